"""The rule about time: a shipment that stops for longer than its leg should take.

A gap between two scans is judged from the scans; the open leg after the last scan is
judged against the partition's watermark (event time), so a replay gives the same alerts.
The leg's budget: road km along the declared route (or direct, off it) at a slow average
speed, plus slack, plus border clearance after a gate, port or airport.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any, NamedTuple

from schemas import VIETNAM_TZ, Evidence, Rule
from streams.config import DetectionConfig, UnexplainedStopConfig
from streams.rules.base import (
    _UNKNOWN,
    Finding,
    Places,
    Route,
    View,
    evidence_of,
    health_factor,
    localities_of,
    place,
)
from streams.rules.movement import plausible_scans
from streams.state import Declaration, Scan


class Leg(NamedTuple):
    start: Scan
    target: str  # checkpoint expected next
    budget: timedelta
    end: datetime | None  # time of the next scan; None for the open leg


class LegsSoFar(NamedTuple):
    """The closed legs (scan to next scan) of a shipment, folded: all a judgement needs of
    them, and what the next judgement extends when one more scan comes at the end."""

    decl: Declaration  # whose route they follow
    route: Route  # that route's geometry
    scans: tuple[Scan, ...]  # the scans they cover (active, not implausible)
    pos: int  # where on the route the scans before the last one reached (-1: nowhere)
    late: tuple[Leg, ...]  # the legs longer than their budget, in order


def legs(view: View) -> list[Leg]:
    """The shipment's legs so far, the open one last (when it has not arrived or been
    held), each derived from the scans; the rules read the same through
    :func:`legs_so_far` and :func:`open_leg`, which extend the last judgement's."""
    if view.decl is None:
        return []
    scans, pos, result = plausible_scans(view), -1, []
    on_route = view.places.route(view.decl.route)
    for before, after in pairwise(scans):
        leg, pos = _closed(view, on_route, before, after, pos)
        result.append(leg)
    last = open_leg(view)
    if last is not None:
        result.append(last)
    return result


def legs_so_far(view: View) -> LegsSoFar | None:
    """The closed legs (None without a declaration: no route, no legs)."""
    found: LegsSoFar | None = view.legs
    if found is None and view.decl is not None:
        found = view.legs = _legs_so_far(view, view.decl)
    return found


def _legs_so_far(view: View, decl: Declaration) -> LegsSoFar:
    scans, prev = plausible_scans(view), view.prev
    known: LegsSoFar | None = prev.legs if prev is not None else None
    if known is not None and known.decl is decl:  # what the last judgement found
        covered, on_route = known.scans, known.route
        if scans is covered:
            return known
        if len(scans) == len(covered) + 1 and covered and scans[:-1] == covered:
            leg, pos = _late_leg(view, on_route, covered[-1], scans[-1], known.pos)  # one more
            late = known.late if leg is None else (*known.late, leg)
            return LegsSoFar(decl, on_route, scans, pos, late)
    on_route, pos, found = view.places.route(decl.route), -1, []
    for before, after in pairwise(scans):
        leg, pos = _late_leg(view, on_route, before, after, pos)
        if leg is not None:
            found.append(leg)
    return LegsSoFar(decl, on_route, scans, pos, tuple(found))


def open_leg(view: View) -> Leg | None:
    """The leg after the last scan (None: no declaration or scan, arrived, or held)."""
    leg = view.open_leg
    if leg is _UNKNOWN:
        leg = view.open_leg = _open_leg(view)
    return leg


def _open_leg(view: View) -> Leg | None:
    so_far = legs_so_far(view)
    if so_far is None or not so_far.scans:
        return None
    scan = so_far.scans[-1]
    ahead = so_far.route.open(so_far.pos, scan.checkpoint_id)
    if ahead is None:
        return None  # arrived at the destination
    held_at = view.state.held_at
    if held_at is not None and held_at >= scan.occurred_at:
        return None  # the goods are held: the stop is explained
    target, km = ahead
    return Leg(scan, target, _budget(view, km, scan, None), None)


def _closed(view: View, on_route: Route, scan: Scan, nxt: Scan, pos: int) -> tuple[Leg, int]:
    """The leg from ``scan`` to the next scan, and how far along the route they reached."""
    km, pos = on_route.closed(pos, scan.checkpoint_id, nxt.checkpoint_id)
    return _closed_leg(view, km, scan, nxt), pos


def _closed_leg(view: View, km: float, scan: Scan, nxt: Scan) -> Leg:
    return Leg(scan, nxt.checkpoint_id, _budget(view, km, scan, nxt.occurred_at), nxt.occurred_at)


def _late_leg(
    view: View, on_route: Route, scan: Scan, nxt: Scan, pos: int
) -> tuple[Leg | None, int]:
    """The leg from ``scan`` to the next scan when it took longer than its budget (else
    None), and how far along the route they reached. Nearly every leg is shorter than the
    drive at the slow pace plus the slack, below any budget: those need no budget."""
    km, pos = on_route.closed(pos, scan.checkpoint_id, nxt.checkpoint_id)
    cfg = view.config.unexplained_stop
    gap_h = (nxt.occurred_at - scan.occurred_at).total_seconds() / 3600
    if gap_h <= km / cfg.min_speed_kmh + cfg.slack_hours:
        return None, pos
    leg = _closed_leg(view, km, scan, nxt)
    return (leg if _late(leg) else None), pos


def _late(leg: Leg) -> bool:
    assert leg.end is not None
    return leg.end - leg.start.occurred_at > leg.budget


_VIETNAM_OFFSET_S = int(VIETNAM_TZ.utcoffset(None).total_seconds())
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_BUDGETS: dict[float, timedelta] = {}  # the same few thousand budgets over and over


# Budgets by their inputs, per configuration: a shipment's open leg is judged again at
# every event and watermark step with the same inputs (times, nights, the fixed point).
_HOURS: dict[int, tuple[UnexplainedStopConfig, dict[tuple[Any, ...], float]]] = {}


def _budget(view: View, km: float, scan: Scan, end: datetime | None) -> timedelta:
    cfg = view.config.unexplained_stop
    known = _HOURS.get(id(cfg))
    if known is None or known[0] is not cfg:
        known = _HOURS[id(cfg)] = (cfg, {})  # (holding cfg keeps its id from reuse)
    memo = known[1]
    key = (view.places, scan.checkpoint_id, scan.occurred_at, km, end)
    hours = memo.get(key)
    if hours is None:
        if len(memo) >= 200_000:
            memo.clear()
        hours = memo[key] = leg_budget_hours(cfg, view.places, km, scan, end)
    budget = _BUDGETS.get(hours)
    if budget is None:
        if len(_BUDGETS) >= 100_000:
            _BUDGETS.clear()
        budget = _BUDGETS[hours] = timedelta(hours=hours)
    return budget


def leg_budget_hours(
    cfg: UnexplainedStopConfig,
    places: Places,
    km: float,
    scan: Scan,
    end: datetime | None = None,
) -> float:
    """How long the leg of ``km`` road km after ``scan`` may take (detection.toml's
    ``[unexplained_stop]`` says each part): driving at a slow pace with slack and the legal
    breaks, a rest after a rest area, the queue and clearance after a gate, and the night's
    rest the stop could have been: from the first hour of night it reaches, up to
    ``overnight_rest_hours`` a night (at least one such rest for each day's driving beyond
    the first).

    ``end``: when the next scan came (a closed leg). Without it (the open leg), the budget
    is the one a next scan at the deadline would get: the first time when the stop has
    lasted longer than its budget, whatever comes later."""
    driving = km / cfg.min_speed_kmh
    fixed = driving + cfg.slack_hours
    fixed += int(driving // cfg.max_continuous_driving_hours) * cfg.break_hours
    checkpoint_id = scan.checkpoint_id
    local_s = math.floor(scan.occurred_at.timestamp()) + _VIETNAM_OFFSET_S  # whole seconds
    if places.rest_area[checkpoint_id]:
        fixed += cfg.rest_area_hours
    if places.entry_point[checkpoint_id]:
        fixed += cfg.gate_queue_hours.get(checkpoint_id, cfg.clearance_hours)
        if cfg.peak_seasons:
            day = date.fromordinal(_EPOCH_ORDINAL + local_s // 86_400)
            fixed += max(
                (p.extra_queue_hours for p in cfg.peak_seasons if p.start <= day <= p.end),
                default=0.0,
            )
    days = (math.ceil(driving / cfg.daily_driving_hours) - 1) * cfg.overnight_rest_hours
    at = (local_s % 86_400) / 3600  # hours since local midnight
    if end is not None:
        gap = (end - scan.occurred_at).total_seconds() / 3600
        return fixed + max(days, _night_rest(at, gap, cfg))
    budget = fixed + days
    for _ in range(64):  # the smallest budget that a stop of that length keeps (a few turns)
        longer = fixed + max(days, _night_rest(at, budget, cfg))
        if longer <= budget + 1e-9:
            break
        budget = longer
    return budget


def _night_rest(at: float, hours: float, cfg: UnexplainedStopConfig) -> float:
    """The night's rest the ``hours`` from ``at`` (hours since midnight, Vietnam time)
    could hold: for each night
    (``night_start_hour`` to ``night_end_hour``, Vietnam time) the span reaches, from when
    it reaches it to the span's end, up to ``overnight_rest_hours`` (a rest that begins in
    the night may run past dawn; one in broad daylight is no night's rest)."""
    if hours <= 0:
        return 0.0
    night_hours = (cfg.night_end_hour - cfg.night_start_hour) % 24 or 24
    night = cfg.night_start_hour - 24.0  # the night that began the evening before
    rest, end = 0.0, at + hours
    while night < end:
        if at < night + night_hours:  # the span is in this night, or reaches it
            rest += min(end - max(at, night), cfg.overnight_rest_hours)
        night += 24
    return rest


def open_leg_deadline(view: View) -> datetime | None:
    """When the open leg becomes an unexplained stop (None: arrived, held, or unknown)."""
    leg = open_leg(view)
    return None if leg is None else leg.start.occurred_at + leg.budget


def unexplained_stop(view: View) -> Finding | None:
    """No scan for longer than the leg's budget, by the scans or by the watermark."""
    state, config, registry = view.state, view.config, view.registry
    decl: Declaration | None = view.decl
    so_far = legs_so_far(view)
    if so_far is None:
        return None
    evidence: list[Evidence] = []
    excess_h = 0.0  # the longest measured stop beyond its budget (the open leg's is unknown)
    for leg in so_far.late:
        assert leg.end is not None
        gap_h = (leg.end - leg.start.occurred_at).total_seconds() / 3600
        budget_h = leg.budget.total_seconds() / 3600
        excess_h = max(excess_h, gap_h - budget_h)
        detail = (
            f"no scan for {gap_h:.1f} h until the next scan; the leg "
            f"to {leg.target} should take at most {budget_h:.1f} h"
        )
        vi = (
            f"không có lần quét nào trong {gap_h:.1f} giờ đến lần quét sau; chặng đến "
            f"{leg.target} chỉ cần tối đa {budget_h:.1f} giờ"
        )
        evidence.append(evidence_of(leg.start, detail, vi=vi))
    last = open_leg(view)
    watermark = state.watermark
    due = None if last is None else last.start.occurred_at + last.budget
    if last is not None and due is not None and watermark is not None and watermark > due:
        # What the watermark shows is only that the deadline passed: saying how long "so
        # far" would make the text depend on when it was judged (the next scan revises it
        # with the real gap).
        budget_h = last.budget.total_seconds() / 3600
        due_at = due.isoformat(timespec="minutes")
        detail = (
            f"no scan within the {budget_h:.1f} h the leg to {last.target} should take "
            f"(due by {due_at})"
        )
        vi = (
            f"không có lần quét nào trong {budget_h:.1f} giờ của chặng đến {last.target} "
            f"(hạn {due_at})"
        )
        evidence.append(evidence_of(last.start, detail, vi=vi))
    if not evidence:
        return None
    where_vi, where_en = place(registry, evidence[0].checkpoint_id)
    return Finding(
        rule=Rule.UNEXPLAINED_STOP,
        evidence=evidence,
        severity_factors=_stop_factors(config, decl, excess_h),
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


def _stop_factors(
    config: DetectionConfig, decl: Declaration | None, excess_h: float
) -> dict[str, int]:
    """The base, and more the longer the measured stop ran beyond its budget."""
    cfg = config.unexplained_stop
    factors = {"unexplained_stop": cfg.base}
    extra = min(cfg.max_excess, round(cfg.per_excess_hour * excess_h))
    if extra > 0:
        factors["hours_beyond_budget"] = extra
    return {**factors, **health_factor(decl, config)}
