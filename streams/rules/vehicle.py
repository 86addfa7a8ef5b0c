"""Rules about the truck and its seal: another vehicle than the one declared, and a seal
found broken or absent after it was read intact."""

from __future__ import annotations

from collections import Counter

from schemas import Evidence, Rule
from schemas.values import edit_distance, plate_key
from streams.kept import Scan
from streams.rules.base import Finding, View, evidence_of, health_factor, localities_of, place


def declared_plate(view: View) -> str | None:
    """The declared vehicle's plate (as written), None without a declaration."""
    decl = view.decl
    if decl is None:
        return None
    for kind, value in decl.entities:
        if kind == "vehicle":
            return value
    return None


def vehicle_swap(view: View) -> Finding | None:
    """A scan read a plate that is not the declared vehicle's: another vehicle (more than
    ``misread_edits`` characters off), or one look-alike plate read at two checkpoints or
    more and the declared one never again after it. One reading a character off is a
    misreading and raises nothing."""
    declared = declared_plate(view)
    if declared is None:
        return None
    cfg, key = view.config.vehicle_swap, plate_key(declared)
    other: list[Scan] = []  # another vehicle
    close: dict[str, list[Scan]] = {}  # a plate a misreading away, by that plate
    for scan in view.active:
        if scan.plate is None or scan.plate == declared:  # nearly every scan
            continue
        read = plate_key(scan.plate)
        if read == key:
            continue
        if edit_distance(read, key, cfg.misread_edits) <= cfg.misread_edits:
            close.setdefault(read, []).append(scan)
        else:
            other.append(scan)
    look_alike = [
        scans
        for scans in close.values()
        if len({s.checkpoint_id for s in scans}) >= 2 and not _declared_after(view, key, scans[0])
    ]
    if not other and not look_alike:
        return None
    evidence: list[Evidence] = [
        evidence_of(
            s,
            f"plate read {s.plate}, declared {declared}",
            vi=f"biển số đọc được {s.plate}, khai báo {declared}",
        )
        for s in other
    ]
    for scans in look_alike:
        evidence += [
            evidence_of(
                s,
                f"plate read {s.plate}, declared {declared}: a look-alike plate",
                vi=f"biển số đọc được {s.plate}, khai báo {declared}: biển số gần giống",
            )
            for s in scans
        ]
    evidence.sort(key=lambda ev: (ev.occurred_at, ev.event_id))
    factors: Counter[str] = Counter()
    if other:
        factors["other_vehicle"] = cfg.base
    else:
        factors["look_alike_plate"] = cfg.look_alike
    factors.update(health_factor(view.decl, view.config))
    state, registry = view.state, view.registry
    first = evidence[0]
    seen = next(s.plate for s in view.active if s.event_id == first.event_id)
    where_vi, where_en = place(registry, first.checkpoint_id)
    return Finding(
        rule=Rule.VEHICLE_SWAP,
        evidence=evidence,
        severity_factors=dict(factors),
        localities=localities_of(registry, view.decl, evidence),
        explanation_vi=(
            f"Lô hàng {state.shipment_id} khai báo trên xe {declared} nhưng tại {where_vi} "
            f"camera/cán bộ ghi nhận biển số {seen}: có thể đã đổi xe."
        ),
        explanation_en=(
            f"Shipment {state.shipment_id} was declared on vehicle {declared}, but at "
            f"{where_en} the plate read was {seen}: the vehicle may have been swapped."
        ),
    )


def _declared_after(view: View, key: str, first: Scan) -> bool:
    """Whether a scan after ``first`` read the declared plate again: a look-alike plate
    that comes and goes is a camera's repeated misreading, not another truck."""
    return any(
        s.plate is not None and s.occurred_at > first.occurred_at and plate_key(s.plate) == key
        for s in view.active
    )


def seal_tampering(view: View) -> Finding | None:
    """A seal read broken or absent after an intact reading (not_checked says nothing)."""
    intact: Scan | None = None
    evidence: list[Evidence] = []
    absent = False
    for scan in view.active:
        if scan.seal == "intact":
            intact = scan
        elif scan.seal in ("broken", "absent") and intact is not None:
            found = "broken" if scan.seal == "broken" else "absent"
            absent = absent or scan.seal == "absent"
            found_vi = "bị phá" if found == "broken" else "không còn"
            evidence.append(evidence_of(intact, "seal intact", vi="niêm phong còn nguyên"))
            evidence.append(
                evidence_of(
                    scan,
                    f"seal {found}, intact at {intact.checkpoint_id} before",
                    vi=f"niêm phong {found_vi}, trước đó còn nguyên tại {intact.checkpoint_id}",
                )
            )
            intact = None  # a later break needs a new intact reading first
    if not evidence:
        return None
    cfg, state, registry = view.config.seal_tampering, view.state, view.registry
    factors = {"seal_broken_after_intact": cfg.base, **health_factor(view.decl, view.config)}
    if absent:
        factors["seal_absent"] = cfg.absent_bonus
    where_vi, where_en = place(registry, evidence[1].checkpoint_id)
    before_vi, before_en = place(registry, evidence[0].checkpoint_id)
    return Finding(
        rule=Rule.SEAL_TAMPERING,
        evidence=evidence,
        severity_factors=factors,
        localities=localities_of(registry, view.decl, evidence),
        explanation_vi=(
            f"Niêm phong của lô hàng {state.shipment_id} còn nguyên tại {before_vi} nhưng bị "
            f"{'mất' if evidence[1].detail.startswith('seal absent') else 'phá'} "
            f"khi đến {where_vi}."
        ),
        explanation_en=(
            f"The seal of shipment {state.shipment_id} was intact at {before_en} but "
            f"{'absent' if evidence[1].detail.startswith('seal absent') else 'broken'} "
            f"at {where_en}."
        ),
    )
