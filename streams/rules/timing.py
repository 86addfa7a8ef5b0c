"""The rule about time: a shipment that stops for longer than its leg should take.

A gap between two scans is judged from the scans; the open leg after the last scan is
judged against the partition's watermark (event time), so a replay gives the same alerts.
The leg's budget: road km along the declared route (or direct, off it) at a slow average
speed, plus slack, plus border clearance after a gate, port or airport.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from schemas import Evidence, Rule
from streams.rules.base import (
    Finding,
    View,
    evidence_of,
    health_factor,
    localities_of,
    place,
)
from streams.rules.movement import implausible_scan_ids
from streams.state import Declaration, Scan


class Leg(NamedTuple):
    start: Scan
    target: str  # checkpoint expected next
    budget: timedelta
    end: datetime | None  # time of the next scan; None for the open leg


def legs(view: View) -> list[Leg]:
    """The shipment's legs so far, the open one last (when it has not arrived or been held)."""
    found = view.legs
    if found is None:
        found = view.legs = _legs(view)
    return found


def _legs(view: View) -> list[Leg]:
    state, config = view.state, view.config
    decl = view.decl
    if decl is None:
        return []
    implausible = implausible_scan_ids(view)
    scans = (
        [s for s in view.active if s.event_id not in implausible] if implausible else view.active
    )
    cfg, route = config.unexplained_stop, decl.route
    on_route = view.places.route(route)
    road, entry_point = view.places.road, view.places.entry_point
    last = len(route) - 1
    result: list[Leg] = []
    pos = -1  # index in the declared route of the latest scan on it
    for i, scan in enumerate(scans):
        here = on_route.after(scan.checkpoint_id, pos)
        nxt = scans[i + 1] if i + 1 < len(scans) else None
        if nxt is not None:
            there = -1 if here < 0 else on_route.after(nxt.checkpoint_id, here)
            km = (
                on_route.km_along(here, there)
                if here >= 0 and there > here
                else road[scan.checkpoint_id][nxt.checkpoint_id]
            )
            target, end = nxt.checkpoint_id, nxt.occurred_at
        else:
            if here == last or (here < 0 and pos == last):
                break  # arrived at the destination
            target = route[max(here, pos) + 1]
            km = road[scan.checkpoint_id][target]
            end = None
        hours = km / cfg.min_speed_kmh + cfg.slack_hours
        if entry_point[scan.checkpoint_id]:
            hours += cfg.clearance_hours
        result.append(Leg(scan, target, _budget(hours), end))
        pos = max(pos, here)
    open_leg = result[-1] if result and result[-1].end is None else None
    if open_leg is not None and state.held_at and state.held_at >= open_leg.start.occurred_at:
        result.pop()  # the goods are held: the stop is explained
    return result


_BUDGETS: dict[float, timedelta] = {}  # the same few thousand budgets over and over


def _budget(hours: float) -> timedelta:
    budget = _BUDGETS.get(hours)
    if budget is None:
        if len(_BUDGETS) >= 100_000:
            _BUDGETS.clear()
        budget = _BUDGETS[hours] = timedelta(hours=hours)
    return budget


def open_leg_deadline(view: View) -> datetime | None:
    """When the open leg becomes an unexplained stop (None: arrived, held, or unknown)."""
    all_legs = legs(view)
    if not all_legs or all_legs[-1].end is not None:
        return None
    return all_legs[-1].start.occurred_at + all_legs[-1].budget


def unexplained_stop(view: View) -> Finding | None:
    """No scan for longer than the leg's budget, by the scans or by the watermark."""
    state, config, registry = view.state, view.config, view.registry
    evidence: list[Evidence] = []
    decl: Declaration | None = view.decl
    for leg in legs(view):
        end = leg.end or state.watermark
        if end is None:
            continue
        gap = end - leg.start.occurred_at
        if gap <= leg.budget:
            continue
        budget_h = leg.budget.total_seconds() / 3600
        if leg.end is not None:
            detail = (
                f"no scan for {gap.total_seconds() / 3600:.1f} h until the next scan; the leg "
                f"to {leg.target} should take at most {budget_h:.1f} h"
            )
        else:
            # What the watermark shows is only that the deadline passed: saying how long
            # "so far" would make the text depend on when it was judged (the next scan
            # revises it with the real gap).
            due = (leg.start.occurred_at + leg.budget).isoformat(timespec="minutes")
            detail = (
                f"no scan within the {budget_h:.1f} h the leg to {leg.target} should take "
                f"(due by {due})"
            )
        evidence.append(evidence_of(leg.start, detail))
    if not evidence:
        return None
    where_vi, where_en = place(registry, evidence[0].checkpoint_id)
    return Finding(
        rule=Rule.UNEXPLAINED_STOP,
        evidence=evidence,
        severity_factors={
            "unexplained_stop": config.unexplained_stop.base,
            **health_factor(decl, config),
        },
        localities=localities_of(registry, decl, evidence),
        explanation_vi=(
            f"Lô hàng {state.shipment_id} dừng lâu bất thường sau {where_vi}: không có lần "
            f"quét nào trong thời gian dự kiến của chặng."
        ),
        explanation_en=(
            f"Shipment {state.shipment_id} stopped unexpectedly after {where_en}: no scan "
            f"within the time the leg should take."
        ),
    )
