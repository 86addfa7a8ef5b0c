"""Rules about where a shipment goes: off its declared route, into the country without
passing a border, or around in a loop."""

from __future__ import annotations

from schemas import Evidence, Rule
from streams.rules.base import Finding, View, evidence_of, health_factor, localities_of, place
from streams.rules.movement import implausible_scan_ids, plausible_scans


def route_deviation(view: View) -> Finding | None:
    """Scans at checkpoints outside the declared route (beyond the corridor tolerance)."""
    state, config, registry = view.state, view.config, view.registry
    decl, cfg = view.decl, config.route_deviation
    if decl is None:
        return None
    evidence: list[Evidence] = []
    declared = decl.route
    implausible: set[str] | None = None
    for scan in view.active:
        if scan.checkpoint_id in declared:  # nearly every scan
            continue
        if implausible is None:
            implausible = implausible_scan_ids(view)
        if scan.event_id in implausible:
            continue
        km_to = view.places.road[scan.checkpoint_id]
        nearest = min(declared, key=km_to.__getitem__)
        distance = km_to[nearest]
        if distance > cfg.tolerance_km:
            evidence.append(evidence_of(scan, f"nearest declared checkpoint {nearest}", distance))
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
        evidence = [evidence_of(scan, f"origin {decl.origin_country}, no border passage")]
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
    """Out through a border gate and in again (re-import), or back into the province of
    entry for two scans after two elsewhere (a single scan away or back is a detour)."""
    state, config, registry = view.state, view.config, view.registry
    scans = plausible_scans(view)
    if not scans:
        return None
    places = view.places
    locality_of, entry_point, border_gate = places.locality, places.entry_point, places.border_gate
    evidence: list[Evidence] = []
    entry_locality = locality_of[scans[0].checkpoint_id]
    left_country = False
    outside = 0  # consecutive scans outside the province of entry
    back: list[Evidence] = []  # consecutive scans back in it after that
    looped = False
    for scan in scans[1:]:
        cp_id = scan.checkpoint_id
        if scan.direction == "outbound" and border_gate[cp_id]:
            left_country = True
        elif left_country and scan.direction == "inbound" and entry_point[cp_id]:
            evidence.append(evidence_of(scan, "re-entered the country after leaving it"))
            left_country = False
        if locality_of[cp_id] != entry_locality:
            if back:
                outside, back = 0, []
            outside += 1
        elif outside >= 2 and not looped:
            back.append(evidence_of(scan, f"back in {entry_locality} after leaving it"))
            if len(back) == 2:
                evidence += back
                looped = True
        else:
            outside = 0
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
