"""What every rule returns, and small helpers they share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from schemas import Evidence, GoodsCategory, Registry, Rule
from streams.config import DetectionConfig
from streams.context import DetectionContext
from streams.state import Declaration, Scan, ShipmentState


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


T = TypeVar("T")


@dataclass
class View:
    """One judgement of one shipment: its state and what several rules derive from it
    (computed once per judgement, through :meth:`memo`)."""

    state: ShipmentState
    config: DetectionConfig
    registry: Registry
    context: DetectionContext | None = None  # other shipments' facts, when settled
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        if key not in self._memo:
            self._memo[key] = compute()
        value: T = self._memo[key]
        return value


RuleFn = Callable[[View], Finding | None]


def health_factor(decl: Declaration | None, config: DetectionConfig) -> dict[str, int]:
    """The bonus for goods that endanger health, when the declaration has any."""
    if decl is not None and any(GoodsCategory(c).endangers_health for c in decl.categories):
        return {"health_goods": config.severity.health_goods_bonus}
    return {}


def evidence_of(
    scan: Scan, detail: str = "", distance_km: float | None = None, *, late: bool = False
) -> Evidence:
    return Evidence(
        event_id=scan.event_id,
        checkpoint_id=scan.checkpoint_id,
        occurred_at=scan.occurred_at,
        detail=detail,
        distance_km=None if distance_km is None else round(distance_km, 1),
        late=late,
    )


def localities_of(
    registry: Registry, decl: Declaration | None, evidence: list[Evidence]
) -> list[str]:
    """Every locality involved: the declared route's, the destination, the evidence's."""
    codes = {registry.checkpoint(ev.checkpoint_id).locality for ev in evidence}
    if decl is not None:
        codes |= {registry.checkpoint(cp).locality for cp in decl.route}
        codes.add(decl.destination_locality)
    return sorted(codes)


def place(registry: Registry, checkpoint_id: str) -> tuple[str, str]:
    """A checkpoint's name and locality, in Vietnamese and in unaccented form."""
    cp = registry.checkpoint(checkpoint_id)
    loc = registry.locality(cp.locality)
    return f"{cp.name} ({loc.name})", f"{cp.name_ascii} ({loc.name_ascii})"
