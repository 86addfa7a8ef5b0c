"""Rules about where a shipment goes: off its declared route, into the country without
passing a border, or around in a loop."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from functools import lru_cache
from itertools import groupby

from schemas import Evidence, Rule
from streams.kept import Scan
from streams.rules.base import (
    Finding,
    Places,
    View,
    evidence_of,
    health_factor,
    localities_of,
    place,
)
from streams.rules.movement import implausible_scan_ids, plausible_scans


def route_deviation(view: View) -> Finding | None:
    """Scans at checkpoints outside the declared route (beyond the corridor tolerance)."""
    state, config, registry = view.state, view.config, view.registry
    decl, cfg = view.decl, config.route_deviation
    if decl is None:
        return None
    evidence: list[Evidence] = []
    declared, on_route = decl.route, view.places.route(decl.route)
    implausible: set[str] | None = None
    for scan in view.active:
        if scan.checkpoint_id in on_route:  # nearly every scan
            continue
        if implausible is None:
            implausible = implausible_scan_ids(view)
        if scan.event_id in implausible:
            continue
        km_to = view.places.road[scan.checkpoint_id]
        nearest = min(declared, key=km_to.__getitem__)
        distance = km_to[nearest]
        if distance > cfg.tolerance_km:
            evidence.append(
                evidence_of(
                    scan,
                    f"nearest declared checkpoint {nearest}",
                    distance,
                    vi=f"điểm khai báo gần nhất {nearest}",
                )
            )
    if not evidence:
        return None
    locality = view.places.locality
    route_localities = {locality[cp] for cp in declared}
    off_localities = {locality[ev.checkpoint_id] for ev in evidence}
    factors = {"off_route_scan": cfg.base, **health_factor(decl, config)}
    if len(evidence) > 1:
        factors["repeated_deviation"] = cfg.per_extra_deviation * min(3, len(evidence) - 1)
    if off_localities - route_localities - {decl.destination_locality}:
        factors["undeclared_locality"] = cfg.undeclared_locality
    first = evidence[0]
    where_vi, where_en = place(registry, first.checkpoint_id)
    route = " → ".join(decl.route)
    more = len(evidence) - 1
    return Finding(
        rule=Rule.ROUTE_DEVIATION,
        evidence=evidence,
        severity_factors=factors,
        localities=localities_of(registry, decl, evidence),
        explanation_vi=(
            f"Lô hàng {state.shipment_id} được quét tại {where_vi}, ngoài tuyến đã khai báo "
            f"({route}); cách điểm gần nhất trên tuyến {first.distance_km} km."
            + (f" Thêm {more} lần quét ngoài tuyến." if more else "")
        ),
        explanation_en=(
            f"Shipment {state.shipment_id} was scanned at {where_en}, outside its declared "
            f"route ({route}); {first.distance_km} km from the nearest declared checkpoint."
            + (f" {more} more off-route scan(s)." if more else "")
        ),
    )


def entry_without_border_passage(view: View) -> Finding | None:
    """Foreign goods seen inland before any border gate, port or airport passage."""
    state, config, registry = view.state, view.config, view.registry
    decl = view.decl
    if decl is None or decl.origin_country == "VN":
        return None
    entry_point = view.places.entry_point
    if entry_point.get(decl.checkpoint_id):
        return None  # declared at the border: that is the passage
    for scan in view.active:
        if entry_point[scan.checkpoint_id]:
            return None
        evidence = [
            evidence_of(
                scan,
                f"origin {decl.origin_country}, no border passage",
                vi=f"xuất xứ {decl.origin_country}, không qua cửa khẩu",
            )
        ]
        where_vi, where_en = place(registry, scan.checkpoint_id)
        return Finding(
            rule=Rule.ENTRY_WITHOUT_BORDER_PASSAGE,
            evidence=evidence,
            severity_factors={
                "no_border_passage": config.entry_without_border_passage.base,
                **health_factor(decl, config),
            },
            localities=localities_of(registry, decl, evidence),
            explanation_vi=(
                f"Lô hàng {state.shipment_id} có xuất xứ {decl.origin_country} xuất hiện tại "
                f"{where_vi} mà không có ghi nhận qua cửa khẩu, cảng hay sân bay nào."
            ),
            explanation_en=(
                f"Shipment {state.shipment_id} of origin {decl.origin_country} appeared at "
                f"{where_en} with no border gate, port or airport passage on record."
            ),
        )
    return None


def circular_routing(view: View) -> Finding | None:
    """Goods that come back where their declaration does not take them (docs/DETECTION.md):

    - into the country again after leaving it: out through a border gate, port or airport
      and in again (a loop that can launder the goods' origin);
    - a second entry with no exit since the first (re-imported on documents already used);
    - back into a province the shipment had left, for two scans after two elsewhere, more
      often than its declared route itself comes back to that province (one scan away or
      back is a detour, route_deviation's).

    ``direction`` at a border gate, port or airport is relative to the country; elsewhere
    it is relative to the checkpoint and says nothing about the border (docs/CONTRACT.md).
    """
    state, config, registry = view.state, view.config, view.registry
    scans = plausible_scans(view)
    if not scans:
        return None
    route = view.decl.route if view.decl is not None else ()
    path = tuple([(s.checkpoint_id, s.direction) for s in scans])
    evidence = [
        _LOOP_EVIDENCE[kind](scans[i], where) for i, kind, where in _loops(view.places, route, path)
    ]
    if not evidence:
        return None
    where_vi, where_en = place(registry, evidence[0].checkpoint_id)
    return Finding(
        rule=Rule.CIRCULAR_ROUTING,
        evidence=evidence,
        severity_factors={
            "loop": config.circular_routing.base,
            **health_factor(view.decl, config),
        },
        localities=localities_of(registry, view.decl, evidence),
        explanation_vi=(
            f"Lô hàng {state.shipment_id} đi vòng: quay lại qua {where_vi} sau khi đã rời đi, "
            f"có thể nhằm hợp thức hóa xuất xứ."
        ),
        explanation_en=(
            f"Shipment {state.shipment_id} went round in a loop: back through {where_en} "
            f"after leaving, which can launder the goods' origin."
        ),
    )


# A shipment's path: each plausible scan's checkpoint and direction, in order.
Path = tuple[tuple[str, str | None], ...]
# Evidence of a loop: which scan, what kind, and the place it refers to.
Mark = tuple[int, str, str]

_LOOP_EVIDENCE: dict[str, Callable[[Scan, str], Evidence]] = {
    "reentry": lambda scan, exited: evidence_of(
        scan,
        f"re-entered the country after leaving it at {exited}",
        vi=f"nhập lại vào Việt Nam sau khi đã xuất qua {exited}",
    ),
    "entry_again": lambda scan, entered: evidence_of(
        scan,
        f"entered the country again with no exit since entering at {entered}",
        vi=f"nhập cảnh lần nữa mà không xuất kể từ lần nhập tại {entered}",
    ),
    "province": lambda scan, code: evidence_of(
        scan, f"back in {code} after leaving it", vi=f"quay lại {code} sau khi đã rời"
    ),
}


@lru_cache(maxsize=65_536)
def _loops(places: Places, route: tuple[str, ...], path: Path) -> tuple[Mark, ...]:
    """Where a shipment's path loops, border loops first (the same paths recur on every
    judgement of a shipment and across the shipments of a route)."""
    return _border_loops(places, path) + _province_loops(places, route, path)


def _border_loops(places: Places, path: Path) -> tuple[Mark, ...]:
    """Entries into the country after an exit, or after an entry with no exit since. Two
    inbound readings in a row at the same gate are one crossing."""
    entry_point = places.entry_point
    found: list[Mark] = []
    entered = -1  # the latest entry, when no exit came after it
    exited = -1  # the latest exit, when no entry came after it
    for i, (checkpoint_id, direction) in enumerate(path):
        if not entry_point[checkpoint_id]:
            continue
        if direction == "outbound":
            entered, exited = -1, i
        elif direction == "inbound":
            if exited >= 0:
                found.append((i, "reentry", path[exited][0]))
            elif entered >= 0 and not (entered == i - 1 and path[entered][0] == checkpoint_id):
                found.append((i, "entry_again", path[entered][0]))
            entered, exited = i, -1
    return tuple(found)


@lru_cache(maxsize=4096)
def _declared_returns(places: Places, route: tuple[str, ...]) -> Counter[str]:
    """How often a declared route comes back to each province (a few hundred routes,
    judged over and over). Do not change the answer: it is shared."""
    locality = places.locality
    declared = [code for code, _ in groupby(locality[cp] for cp in route)]
    allowed: Counter[str] = Counter()
    for i, code in enumerate(declared):
        if code in declared[:i]:
            allowed[code] += 1
    return allowed


def _province_loops(places: Places, route: tuple[str, ...], path: Path) -> tuple[Mark, ...]:
    """The first two scans of each return into a province beyond the returns the declared
    route makes to it, after two scans or more elsewhere. A province counts as left once
    the shipment was really there: two scans in a row, or where its scans begin. (One scan
    elsewhere is a detour, route_deviation's, or a cloned document, impossible_travel's:
    not a place to come back to.)"""
    locality = places.locality
    allowed = _declared_returns(places, route)
    found: list[Mark] = []
    returns: Counter[str] = Counter()
    left_at: dict[str, int] = {}  # province -> index of the first scan after its latest stay
    position = 0
    for code, grouped in groupby(locality[checkpoint_id] for checkpoint_id, _ in path):
        length = len(list(grouped))
        if code in left_at:
            returns[code] += 1
            away = position - left_at[code]
            if returns[code] > allowed[code] and away >= 2 and length >= 2:
                found += [(position, "province", code), (position + 1, "province", code)]
        position += length
        if length >= 2 or position == length:
            left_at[code] = position
    return tuple(found)
