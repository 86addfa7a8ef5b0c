"""Rules that look past the shipment itself: links to earlier seizures, and corridors with
recent seizures. They read :class:`streams.context.DetectionContext` and only facts earlier
in event time than the shipment's declaration; the engine runs them once the context is
settled for that declaration (see ``CONTEXT_RULES``)."""

from __future__ import annotations

from datetime import timedelta

from schemas import Evidence, Rule
from streams.context import Entity, IncidentRef, SeizureRef, Sighting
from streams.facts import normalized
from streams.rules.base import Finding, View, endangers_health, health_factor, localities_of
from streams.state import Declaration

KIND_VI = {"party": "đối tác", "vehicle": "phương tiện", "driver": "lái xe"}
KIND_EN = {"party": "party", "vehicle": "vehicle", "driver": "driver"}


def _declared(decl: Declaration, detail: str, vi: str) -> Evidence:
    return Evidence(
        event_id=decl.event_id,
        checkpoint_id=decl.checkpoint_id,
        occurred_at=decl.occurred_at,
        detail=detail,
        detail_vi=vi,
    )


def _implicating(ref: SeizureRef, entity: Entity) -> Evidence:
    return _seized(
        ref,
        f"seizure {ref.seizure_id} implicated {_name(entity)}",
        f"vụ bắt giữ {ref.seizure_id} liên quan đến {_name_vi(entity)}",
    )


def _seized(ref: SeizureRef, detail: str, vi: str) -> Evidence:
    return Evidence(
        event_id=ref.event_id,
        checkpoint_id=ref.checkpoint_id,
        occurred_at=ref.occurred_at,
        detail=detail,
        detail_vi=vi,
        shipment_id=ref.shipment_id,
    )


def _name(entity: Entity) -> str:
    return f"{KIND_EN[entity[0]]} {entity[1]}"


def _name_vi(entity: Entity) -> str:
    return f"{KIND_VI[entity[0]]} {entity[1]}"


def _extra(count: int, per: int) -> dict[str, int]:
    return {"more_links": per * min(3, count - 1)} if count > 1 else {}


def linked_to_offender(view: View) -> Finding | None:
    """A party, vehicle or driver implicated in an earlier seizure, or seen on an earlier
    declaration with one that was."""
    state, config, ctx = view.state, view.config, view.context
    decl, cfg = view.decl, config.linked_to_offender
    if decl is None or ctx is None or not decl.entities:
        return None
    before, sid = decl.occurred_at, state.shipment_id
    entities = normalized(decl.entities)  # (a state stored before ids were compared so)

    def earlier_seizure(entity: Entity) -> SeizureRef | None:
        refs = [r for r in ctx.seizures_of(entity, before) if r.shipment_id != sid]
        return refs[0] if refs else None

    direct = [(e, ref) for e in entities if (ref := earlier_seizure(e)) is not None]
    if direct:
        direct.sort(key=lambda link: (link[1], link[0]))
        shown = direct[: cfg.max_links]
        entity, ref = shown[0]
        return _linked(
            view,
            decl,
            [_implicating(r, e) for e, r in shown],
            [e for e, _ in shown],
            {"implicated_in_seizure": cfg.direct, **_extra(len(direct), cfg.per_extra_link)},
            vi=(
                f"Lô hàng {sid} có {_name_vi(entity)} liên quan đến vụ bắt giữ "
                f"{ref.seizure_id} (lô {ref.shipment_id}) trước đó."
            ),
            en=(
                f"Shipment {sid} travels with {_name(entity)}, implicated in the earlier "
                f"seizure {ref.seizure_id} (shipment {ref.shipment_id})."
            ),
        )
    hops: list[tuple[SeizureRef, Sighting, Entity, Entity]] = []
    for entity in entities:
        for other, sighting in ctx.seized_seen_with(entity, before):  # hops are sorted below
            if sighting.shipment_id == sid or other in entities:
                continue
            ref = earlier_seizure(other)
            if ref is not None:
                hops.append((ref, sighting, entity, other))
    if not hops:
        return None
    hops.sort()
    shown_hops = hops[: cfg.max_links]
    facts = []
    for ref, sighting, entity, other in shown_hops:
        facts.append(
            Evidence(
                event_id=sighting.event_id,
                checkpoint_id=sighting.checkpoint_id,
                occurred_at=sighting.occurred_at,
                detail=f"{_name(entity)} declared together with {_name(other)}",
                detail_vi=f"{_name_vi(entity)} được khai báo cùng {_name_vi(other)}",
                shipment_id=sighting.shipment_id,
            )
        )
        facts.append(_implicating(ref, other))
    ref, sighting, entity, other = shown_hops[0]
    return _linked(
        view,
        decl,
        facts,
        [h[2] for h in shown_hops],
        {"linked_through_one_hop": cfg.one_hop, **_extra(len(hops), cfg.per_extra_link)},
        vi=(
            f"Lô hàng {sid} có {_name_vi(entity)}, từng đi cùng {_name_vi(other)} "
            f"(lô {sighting.shipment_id}), bị liên quan đến vụ bắt giữ {ref.seizure_id}."
        ),
        en=(
            f"Shipment {sid} travels with {_name(entity)}, who was declared together with "
            f"{_name(other)} (shipment {sighting.shipment_id}), implicated in the seizure "
            f"{ref.seizure_id}."
        ),
    )


def _linked(
    view: View,
    decl: Declaration,
    facts: list[Evidence],
    declared_with: list[Entity],
    factors: dict[str, int],
    vi: str,
    en: str,
) -> Finding:
    """The finding of linked_to_offender: the declaration, then each fact once (the first
    time it comes up)."""
    evidence: dict[str, Evidence] = {}
    declared = _declared(
        decl,
        "declared with " + ", ".join(map(_name, declared_with)),
        "khai báo với " + ", ".join(map(_name_vi, declared_with)),
    )
    for ev in [declared, *facts]:
        evidence.setdefault(ev.event_id, ev)
    kept = list(evidence.values())
    return Finding(
        rule=Rule.LINKED_TO_OFFENDER,
        evidence=kept,
        severity_factors={**factors, **health_factor(decl, view.config)},
        localities=localities_of(view.registry, decl, kept),
        explanation_vi=vi,
        explanation_en=en,
    )


def high_risk_corridor(view: View) -> Finding | None:
    """Goods that endanger health declared on a corridor with recent seizures, or with
    alerts the task forces confirmed."""
    state, config, registry, ctx = view.state, view.config, view.registry, view.context
    decl, cfg = view.decl, config.high_risk_corridor
    if decl is None or ctx is None or not endangers_health(decl):
        return None
    before = decl.occurred_at
    since = before - timedelta(days=cfg.window_days)
    corridor_of = view.places.corridor
    corridors = sorted({corridor_of[cp] for cp in decl.route})
    # how many seizures, on which corridors, and the most recent (corridors share none)
    seized_count, seized, hot_corridors = 0, [], set()
    for corridor in corridors:
        count, latest = ctx.latest_corridor_seizures(
            corridor, since, before, state.shipment_id, cfg.max_seizures
        )
        if count:
            seized_count += count
            seized += latest
            hot_corridors.add(corridor)
    seized = sorted(seized, reverse=True)[: cfg.max_seizures]
    confirmed: dict[str, IncidentRef] = {}  # the latest fact of each confirmed alert
    for fact in sorted(
        (
            fact
            for corridor in corridors
            for fact in ctx.corridor_incidents(corridor, since, before)
            if fact.shipment_id != state.shipment_id
        ),
        reverse=True,
    ):
        confirmed.setdefault(fact.alert_id, fact)
    if not seized_count and not confirmed:
        return None
    hot = sorted(hot_corridors | {corridor_of[f.checkpoint_id] for f in confirmed.values()})
    evidence = [
        _declared(
            decl,
            "health goods declared on " + ", ".join(hot),
            "hàng ảnh hưởng sức khỏe khai báo trên tuyến " + ", ".join(hot),
        )
    ]
    for ref in seized:
        corridor = corridor_of[ref.checkpoint_id]
        evidence.append(
            _seized(
                ref,
                f"seizure {ref.seizure_id} on {corridor}",
                f"vụ bắt giữ {ref.seizure_id} trên tuyến {corridor}",
            )
        )
    for fact in list(confirmed.values())[: cfg.max_seizures]:
        corridor = corridor_of[fact.checkpoint_id]
        evidence.append(
            Evidence(
                event_id=fact.event_id,
                checkpoint_id=fact.checkpoint_id,
                occurred_at=fact.occurred_at,
                detail=f"alert {fact.alert_id} ({fact.rule}) confirmed by a task force, "
                f"on {corridor}",
                detail_vi=f"cảnh báo {fact.alert_id} ({fact.rule}) được tổ công tác xác nhận, "
                f"trên tuyến {corridor}",
                shipment_id=fact.shipment_id,
            )
        )
    first = "recent_seizure_on_corridor" if seized_count else "recent_confirmed_alert_on_corridor"
    factors = {first: cfg.base, **health_factor(decl, config)}
    incidents = seized_count + len(confirmed)
    if incidents > 1:
        more = "more_incidents" if confirmed else "more_seizures"
        factors[more] = cfg.per_extra_seizure * min(3, incidents - 1)
    days = f"{cfg.window_days:g}"
    if confirmed:
        counted_vi = f"{seized_count} vụ bắt giữ và {len(confirmed)} cảnh báo đã được xác nhận"
        counted_en = f"{seized_count} seizure(s) and {len(confirmed)} confirmed alert(s)"
    else:
        counted_vi, counted_en = f"{seized_count} vụ bắt giữ", f"{seized_count} seizure(s)"
    return Finding(
        rule=Rule.HIGH_RISK_CORRIDOR,
        evidence=evidence,
        severity_factors=factors,
        localities=localities_of(registry, decl, evidence),
        explanation_vi=(
            f"Lô hàng {state.shipment_id} chở hàng ảnh hưởng sức khỏe trên tuyến "
            f"{', '.join(hot)}, nơi có {counted_vi} trong {days} ngày qua."
        ),
        explanation_en=(
            f"Shipment {state.shipment_id} carries goods that endanger health on "
            f"{', '.join(hot)}, with {counted_en} in the past {days} days."
        ),
    )
