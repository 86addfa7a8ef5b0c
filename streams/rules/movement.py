"""Rules about how a shipment moves: faster than a truck can, or heavier or lighter than it
should be."""

from __future__ import annotations

from itertools import pairwise

from schemas import Evidence, Rule
from streams.rules.base import (
    Finding,
    Pair,
    View,
    evidence_of,
    health_factor,
    localities_of,
    place,
)
from streams.state import Scan


def impossible_pairs(view: View) -> tuple[Pair, ...]:
    """Consecutive active scans (before, after, road km, hours) that no truck could make."""
    pairs = view.pairs
    if pairs is None:
        pairs = view.pairs = _impossible_pairs(view)
    return pairs


def _impossible_pairs(view: View) -> tuple[Pair, ...]:
    active, prev = view.active, view.prev
    if prev is not None and prev.active is not None:  # what the last judgement found
        covered = prev.active
        if active is covered:
            return prev.pairs
        if len(active) == len(covered) + 1 and covered and active[:-1] == covered:
            pair = _impossible(view, covered[-1], active[-1])  # one more scan at the end
            return prev.pairs if pair is None else (*prev.pairs, pair)
    found = (_impossible(view, before, after) for before, after in pairwise(active))
    return tuple(pair for pair in found if pair is not None)


def _impossible(view: View, before: Scan, after: Scan) -> Pair | None:
    cfg = view.config.impossible_travel
    km = view.places.road[before.checkpoint_id][after.checkpoint_id]
    if km < cfg.min_distance_km:
        return None
    hours = (after.occurred_at - before.occurred_at).total_seconds() / 3600
    if hours > 0:
        kmh = km / hours
        # rounded: times have microseconds, and a thousandth of a km/h means nothing;
        # well below the limit (nearly always), rounding cannot reach it
        if kmh < cfg.max_speed_kmh - 0.001 or round(kmh, 3) <= cfg.max_speed_kmh:
            return None
    return before, after, km, hours


def implausible_scan_ids(view: View) -> set[str]:
    """Scans that cannot be the declared vehicle: in an impossible transition and off the
    declared route (the clone of a cloned document; without a declaration, both scans).
    Route and timing rules leave them to impossible_travel."""
    implausible = view.implausible
    if implausible is None:
        implausible = view.implausible = _implausible_scan_ids(view)
    return implausible


def _implausible_scan_ids(view: View) -> set[str]:
    pairs = impossible_pairs(view)
    if not pairs:  # nearly every judgement
        return set()
    decl = view.decl
    route = set(decl.route) if decl else set()
    return {scan.event_id for pair in pairs for scan in pair[:2] if scan.checkpoint_id not in route}


def plausible_scans(view: View) -> tuple[Scan, ...]:
    """The active scans but the implausible ones (what the route and timing rules read)."""
    plausible = view.plausible
    if plausible is None:
        implausible = implausible_scan_ids(view)
        plausible = view.plausible = (
            tuple(s for s in view.active if s.event_id not in implausible)
            if implausible
            else view.active
        )
    return plausible


def impossible_travel(view: View) -> Finding | None:
    """Consecutive scans closer in time than the road distance allows at a plausible top
    speed; at two distant places at (nearly) the same time: cloned documents."""
    state, config, registry = view.state, view.config, view.registry
    cfg = config.impossible_travel
    evidence: list[Evidence] = []
    cloned = False
    for before, after, km, hours in impossible_pairs(view):
        speed = "at the same time" if hours <= 0 else f"{km / hours:.0f} km/h"
        if km >= cfg.cloned_documents_km and hours * 60 <= cfg.simultaneous_minutes:
            cloned = True
        if not evidence or evidence[-1].event_id != before.event_id:
            evidence.append(
                evidence_of(before, f"then {after.checkpoint_id}", vi=f"rồi {after.checkpoint_id}")
            )
        speed_vi = "cùng lúc" if hours <= 0 else f"{km / hours:.0f} km/h"
        evidence.append(
            evidence_of(
                after,
                f"{km:.0f} km from {before.checkpoint_id}, {speed}",
                km,
                vi=f"cách {before.checkpoint_id} {km:.0f} km, {speed_vi}",
            )
        )
    if not evidence:
        return None
    factors = {"impossible_speed": cfg.base, **health_factor(view.decl, config)}
    if cloned:
        factors["cloned_documents"] = cfg.cloned_documents_bonus
    (a_vi, a_en), (b_vi, b_en) = (place(registry, ev.checkpoint_id) for ev in evidence[:2])
    return Finding(
        rule=Rule.IMPOSSIBLE_TRAVEL,
        evidence=evidence,
        severity_factors=factors,
        localities=localities_of(registry, view.decl, evidence),
        explanation_vi=(
            f"Lô hàng {state.shipment_id} được ghi nhận tại {a_vi} và {b_vi} cách nhau "
            f"{evidence[1].distance_km} km trong thời gian quá ngắn"
            + (" (nghi giấy tờ bị nhân bản)." if cloned else ".")
        ),
        explanation_en=(
            f"Shipment {state.shipment_id} was seen at {a_en} and {b_en}, "
            f"{evidence[1].distance_km} km apart, too close in time"
            + (" (suspected cloned documents)." if cloned else ".")
        ),
    )


def weight_change(view: View) -> Finding | None:
    """A weighing beyond tolerance of the declared weight or of the previous weighing."""
    state, config, registry = view.state, view.config, view.registry
    decl, cfg = view.decl, config.weight_change
    if decl is None or decl.weight_kg <= 0:
        return None
    evidence: list[Evidence] = []
    largest = 0.0
    previous: float | None = None
    declared, tolerance = decl.weight_kg, cfg.tolerance
    surely_within = tolerance - 1e-6  # below it, rounding to 6 places cannot pass tolerance
    weighbridge = view.places.weighbridge
    for scan in view.active:
        weight = scan.weight_kg
        if weight is None or not weighbridge[scan.checkpoint_id]:
            continue  # no weighing, or a weight from a place with no weighbridge
        last, previous = previous, weight
        if abs(weight / declared - 1) < surely_within and (
            last is None or abs(weight / last - 1) < surely_within
        ):
            continue  # nearly every weighing (rounding, below, is slow)
        # rounded: float division must not turn exactly 5 % into 5.0000001 %
        vs_declared = round(weight / declared - 1, 6)
        vs_previous = 0.0 if last is None else round(weight / last - 1, 6)
        if max(abs(vs_declared), abs(vs_previous)) <= tolerance:
            continue
        largest = max(largest, abs(vs_declared), abs(vs_previous))
        evidence.append(
            evidence_of(
                scan,
                f"{scan.weight_kg:.0f} kg: {vs_declared:+.1%} vs declared "
                f"{decl.weight_kg:.0f} kg, {vs_previous:+.1%} vs previous weighing",
                vi=f"{scan.weight_kg:.0f} kg: {vs_declared:+.1%} so với khai báo "
                f"{decl.weight_kg:.0f} kg, {vs_previous:+.1%} so với lần cân trước",
            )
        )
    if not evidence:
        return None
    factors = {"weight_change": cfg.base, **health_factor(decl, config)}
    if largest > cfg.large_change:
        factors["large_change"] = cfg.large_change_bonus
    where_vi, where_en = place(registry, evidence[0].checkpoint_id)
    return Finding(
        rule=Rule.WEIGHT_CHANGE,
        evidence=evidence,
        severity_factors=factors,
        localities=localities_of(registry, decl, evidence),
        explanation_vi=(
            f"Khối lượng lô hàng {state.shipment_id} tại {where_vi} lệch {largest:.0%} so với "
            f"khai báo hoặc lần cân trước (dung sai {cfg.tolerance:.0%})."
        ),
        explanation_en=(
            f"Shipment {state.shipment_id} weighed at {where_en} differs by {largest:.0%} "
            f"from its declaration or previous weighing (tolerance {cfg.tolerance:.0%})."
        ),
    )
