"""The detection context: facts survive their wire format, and forgetting facts older
than the retention changes no answer about the time after it."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

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


@settings(max_examples=60, deadline=None)
@given(
    seizures=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 30 * 24), st.integers(0, 1)),
        max_size=40,
    ),
    since_h=st.integers(0, 30 * 24),
    span_h=st.integers(0, 30 * 24),
    latest=st.integers(1, 4),
)
def test_latest_corridor_seizures_counts_and_orders_as_the_whole_window_does(
    seizures, since_h, span_h, latest
):
    """The count and the most recent seizures on a corridor, besides one shipment's, are
    what sorting the whole window would give (the rule used to do that)."""
    decls = [declaration() for _ in range(4)]
    ctx = DetectionContext(REG)
    for who, hours, where in seizures:
        of = decls[who]
        for fact in facts_of_event(
            seizure(of, minutes=hours * 60, checkpoint_id=of.declared_route[where])
        ):
            ctx.add(fact)
    since, before = T0 + timedelta(hours=since_h), T0 + timedelta(hours=since_h + span_h)
    besides = decls[0].shipment_id
    for corridor in {REG.checkpoint(cp).corridor for d in decls for cp in d.declared_route}:
        window = [
            ref
            for ref in ctx.corridor_seizures(corridor, since, before)
            if ref.shipment_id != besides
        ]
        expected = (len(window), sorted(window, reverse=True)[:latest])
        assert ctx.latest_corridor_seizures(corridor, since, before, besides, latest) == expected
