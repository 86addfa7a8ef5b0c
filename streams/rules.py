"""Detection rules. Each rule looks at a shipment's whole state and returns a Finding or None.

Rules judge the state, not the last event, so the result does not depend on the order the
events arrived in. Issue #4 adds the remaining rules and moves thresholds to a config file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from schemas import Evidence, GoodsCategory, Registry, Rule
from streams.state import ShipmentState


@dataclass(frozen=True)
class DetectionConfig:
    """Rule thresholds."""

    # A scan this close (road km) to a declared checkpoint is not a deviation: a nearby
    # station on the same corridor.
    route_tolerance_km: float = 3.0
    route_deviation_base: int = 50
    health_goods_bonus: int = 20
    per_extra_deviation: int = 10
    new_locality_bonus: int = 10


@dataclass(frozen=True)
class Finding:
    """What a rule found: the facts an alert is built from."""

    rule: Rule
    evidence: list[Evidence]
    severity_factors: dict[str, int]
    localities: list[str]
    explanation_vi: str
    explanation_en: str

    @property
    def severity(self) -> int:
        return max(0, min(100, sum(self.severity_factors.values())))


def route_deviation(
    state: ShipmentState, config: DetectionConfig, registry: Registry
) -> Finding | None:
    """Scans at checkpoints outside the declared route (beyond the corridor tolerance)."""
    decl = state.declaration
    if decl is None:
        return None
    evidence: list[Evidence] = []
    for scan in state.active_scans:
        if scan.checkpoint_id in decl.route:
            continue
        nearest = min(decl.route, key=lambda cp: registry.road_distance_km(scan.checkpoint_id, cp))
        distance = registry.road_distance_km(scan.checkpoint_id, nearest)
        if distance <= config.route_tolerance_km:
            continue
        evidence.append(
            Evidence(
                event_id=scan.event_id,
                checkpoint_id=scan.checkpoint_id,
                occurred_at=scan.occurred_at,
                detail=f"nearest declared checkpoint {nearest}",
                distance_km=round(distance, 1),
            )
        )
    if not evidence:
        return None

    route_localities = {registry.checkpoint(cp).locality for cp in decl.route}
    off_localities = {registry.checkpoint(ev.checkpoint_id).locality for ev in evidence}
    factors = {"off_route_scan": config.route_deviation_base}
    if any(GoodsCategory(c).endangers_health for c in decl.categories):
        factors["health_goods"] = config.health_goods_bonus
    if len(evidence) > 1:
        factors["repeated_deviation"] = config.per_extra_deviation * min(3, len(evidence) - 1)
    if off_localities - route_localities - {decl.destination_locality}:
        factors["undeclared_locality"] = config.new_locality_bonus

    first = evidence[0]
    cp = registry.checkpoint(first.checkpoint_id)
    loc = registry.locality(cp.locality)
    more = len(evidence) - 1
    route_text = " → ".join(decl.route)
    vi = (
        f"Lô hàng {state.shipment_id} được quét tại {cp.name} ({loc.name}), "
        f"ngoài tuyến đã khai báo ({route_text}); cách điểm gần nhất trên tuyến "
        f"{first.distance_km} km."
    )
    en = (
        f"Shipment {state.shipment_id} was scanned at {cp.name_ascii} ({loc.name_ascii}), "
        f"outside its declared route ({route_text}); {first.distance_km} km from the "
        f"nearest declared checkpoint."
    )
    if more:
        vi += f" Thêm {more} lần quét ngoài tuyến."
        en += f" {more} more off-route scan(s)."
    return Finding(
        rule=Rule.ROUTE_DEVIATION,
        evidence=evidence,
        severity_factors=factors,
        localities=sorted(route_localities | off_localities | {decl.destination_locality}),
        explanation_vi=vi,
        explanation_en=en,
    )


RuleFn = Callable[[ShipmentState, DetectionConfig, Registry], Finding | None]
RULES: dict[Rule, RuleFn] = {Rule.ROUTE_DEVIATION: route_deviation}
