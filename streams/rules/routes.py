"""Rules about where a shipment goes: off its declared route, into the country without
passing a border, or around in a loop."""

from __future__ import annotations

from schemas import CheckpointKind, Evidence, Rule
from streams.rules.base import Finding, View, evidence_of, health_factor, localities_of, place
from streams.rules.movement import implausible_scan_ids


def route_deviation(view: View) -> Finding | None:
    """Scans at checkpoints outside the declared route (beyond the corridor tolerance)."""
    state, config, registry = view.state, view.config, view.registry
    decl, cfg = state.declaration, config.route_deviation
    if decl is None:
        return None
    evidence: list[Evidence] = []
    implausible = implausible_scan_ids(view)
    for scan in state.active_scans:
        if scan.checkpoint_id in decl.route or scan.event_id in implausible:
            continue
        nearest = min(decl.route, key=lambda cp: registry.road_distance_km(scan.checkpoint_id, cp))
        distance = registry.road_distance_km(scan.checkpoint_id, nearest)
        if distance > cfg.tolerance_km:
            evidence.append(evidence_of(scan, f"nearest declared checkpoint {nearest}", distance))
    if not evidence:
        return None
    route_localities = {registry.checkpoint(cp).locality for cp in decl.route}
    off_localities = {registry.checkpoint(ev.checkpoint_id).locality for ev in evidence}
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
    decl = state.declaration
    if decl is None or decl.origin_country == "VN":
        return None
    filed_at = registry.checkpoints.get(decl.checkpoint_id)
    if filed_at is not None and filed_at.kind.is_entry_point:
        return None  # declared at the border: that is the passage
    for scan in state.active_scans:
        if registry.checkpoint(scan.checkpoint_id).kind.is_entry_point:
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
    implausible = implausible_scan_ids(view)
    scans = [s for s in state.active_scans if s.event_id not in implausible]
    if not scans:
        return None
    evidence: list[Evidence] = []
    entry_locality = registry.checkpoint(scans[0].checkpoint_id).locality
    left_country = False
    outside = 0  # consecutive scans outside the province of entry
    back: list[Evidence] = []  # consecutive scans back in it after that
    looped = False
    for scan in scans[1:]:
        cp = registry.checkpoint(scan.checkpoint_id)
        if cp.kind == CheckpointKind.BORDER_GATE and scan.direction == "outbound":
            left_country = True
        elif left_country and cp.kind.is_entry_point and scan.direction == "inbound":
            evidence.append(evidence_of(scan, "re-entered the country after leaving it"))
            left_country = False
        if cp.locality != entry_locality:
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
            **health_factor(state.declaration, config),
        },
        localities=localities_of(registry, state.declaration, evidence),
        explanation_vi=(
            f"Lô hàng {state.shipment_id} đi vòng: quay lại qua {where_vi} sau khi đã rời đi, "
            f"có thể nhằm hợp thức hóa xuất xứ."
        ),
        explanation_en=(
            f"Shipment {state.shipment_id} went round in a loop: back through {where_en} "
            f"after leaving, which can launder the goods' origin."
        ),
    )
