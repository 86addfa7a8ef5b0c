"""The detection context: facts survive their wire format, and forgetting facts older
than the retention changes no answer about the time after it."""

from __future__ import annotations

from datetime import timedelta

from schemas import load_registry
from streams.context import DetectionContext
from streams.facts import CaseFact, decode_fact, encode_fact, facts_of_event
from tests.factories import T0, declaration, seizure

REG = load_registry()


def test_facts_read_back_as_written():
    decl = declaration()
    facts = [*facts_of_event(decl), *facts_of_event(seizure(decl))]
    facts.append(
        CaseFact("ALR-1", "route_deviation", decl.shipment_id, "confirmed",
                 ((decl.event_id, decl.checkpoint_id, decl.occurred_at),))
    )  # fmt: skip
    for fact in facts:
        key, value = encode_fact(fact)
        assert decode_fact(value) == fact and key == fact.key.encode()


def answers(ctx, entity, corridor, since, before):
    return (
        ctx.seizures_of(entity, before, since),
        list(ctx.seen_with(entity, before, since)),
        ctx.corridor_seizures(corridor, since, before),
    )


def test_pruning_keeps_every_answer_about_the_time_after_the_cutoff():
    ctx, pruned = DetectionContext(REG), DetectionContext(REG)
    driver = "D-SHARED"
    for day in range(40):
        decl = declaration(driver_id=driver, occurred_at=T0 + timedelta(days=day))
        for fact in [*facts_of_event(decl), *facts_of_event(seizure(decl, minutes=day * 1440))]:
            ctx.add(fact)
            pruned.add(fact)
    cutoff = T0 + timedelta(days=20)
    assert pruned.prune(cutoff) > 0
    entity = ("driver", driver)
    corridor = REG.checkpoint(declaration().checkpoint_id).corridor
    for since_day, before_day in ((20, 25), (21, 40), (30, 41)):
        window = (T0 + timedelta(days=since_day), T0 + timedelta(days=before_day))
        assert answers(pruned, entity, corridor, *window) == answers(ctx, entity, corridor, *window)
    assert pruned.size < ctx.size
    old = declaration(driver_id=driver, occurred_at=T0)  # a replayed old fact stays out
    for fact in facts_of_event(old):
        pruned.add(fact)
    assert pruned.seizures_of(entity, cutoff) == []
