"""Suspicious scenarios the simulator plants in otherwise legitimate journeys.

Each function bends a journey and returns the label (scenario name, the rule expected to
catch it, and whether the act is the declaration) or None when the journey cannot carry it
(then it stays legitimate). The stop where the act happens gets ``act=True``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from producers.simulation.journey import Journey, Stop
from producers.simulation.network import Network

HOUR = 3600.0

# The detection rule (streams.rules / schemas.Rule value) that should catch each scenario.
SCENARIO_RULES: dict[str, str] = {
    "route_deviation": "route_deviation",
    "cloned_documents": "impossible_travel",
    "weight_change": "weight_change",
    "unexplained_stop": "unexplained_stop",
    "circular_reimport": "circular_routing",
    "second_entry": "circular_routing",
    "vehicle_swap": "vehicle_swap",
    "seal_tampering": "seal_tampering",
    "entry_without_border": "entry_without_border_passage",
    "linked_to_offender": "linked_to_offender",
    "high_risk_corridor": "high_risk_corridor",
}


@dataclass(frozen=True)
class Label:
    scenario: str
    rule: str
    act_is_declaration: bool = False
    detail: str = ""


def _shift_from(stops: list[Stop], index: int, seconds: float) -> None:
    for stop in stops[index:]:
        stop.at += seconds


def _drive(net: Network, rng: random.Random, a: str, b: str) -> float:
    return net.km(a, b) / rng.uniform(35, 60) * HOUR + rng.uniform(300, 1800)


def route_deviation(rng: random.Random, net: Network, j: Journey) -> Label | None:
    """A scan at a checkpoint 20 to 150 km off the declared route."""
    route = j.declared_route
    candidates = [
        cp for cp in sorted(net.registry.checkpoints)
        if cp not in route and 20 <= min(net.km(cp, r) for r in route) <= 150
    ]  # fmt: skip
    if not candidates or len(j.stops) < 2:
        return None
    detour = rng.choice(candidates)
    k = rng.randrange(1, len(j.stops))
    before, after = j.stops[k - 1], j.stops[k]
    there = _drive(net, rng, before.checkpoint_id, detour)
    back = _drive(net, rng, detour, after.checkpoint_id)
    _shift_from(j.stops, k, max(0.0, before.at + there + back - after.at))
    j.stops.insert(k, Stop(detour, before.at + there, act=True))
    return Label("route_deviation", SCENARIO_RULES["route_deviation"], detail=detour)


def cloned_documents(rng: random.Random, net: Network, j: Journey) -> Label | None:
    """The same shipment seen at a checkpoint 150+ km away within 20 minutes."""
    k = rng.randrange(len(j.stops))
    real = j.stops[k]
    real.missed = False
    far = [cp for cp in sorted(net.registry.checkpoints) if net.km(cp, real.checkpoint_id) >= 150]
    clone = Stop(rng.choice(far), real.at + rng.uniform(0, 20 * 60), act=True)
    j.stops.insert(k + 1, clone)
    j.stops.sort(key=lambda s: s.at)
    return Label("cloned_documents", SCENARIO_RULES["cloned_documents"], detail=clone.checkpoint_id)


def weight_change(rng: random.Random, net: Network, j: Journey) -> Label | None:
    """From a weighbridge on, the load is 12 to 35 % heavier or lighter than declared."""
    weighed = [i for i, s in enumerate(j.stops) if s.weight_kg is not None]
    if len(weighed) < 2:
        return None
    start = rng.choice(weighed[1:])
    factor = 1 + rng.choice((-1, 1)) * rng.uniform(0.12, 0.35)
    for stop in j.stops[start:]:
        if stop.weight_kg is not None:
            stop.weight_kg = round(stop.weight_kg * factor, 1)
    j.stops[start].act = True
    j.stops[start].missed = False
    return Label("weight_change", SCENARIO_RULES["weight_change"], detail=f"x{factor:.2f}")


def unexplained_stop(rng: random.Random, net: Network, j: Journey) -> Label | None:
    """12 to 48 hours unaccounted for between two stations."""
    if len(j.stops) < 2:
        return None
    k = rng.randrange(1, len(j.stops))
    delay = rng.uniform(12 * HOUR, 48 * HOUR)
    _shift_from(j.stops, k, delay)
    j.stops[k - 1].act = True  # last seen before the stop
    j.stops[k - 1].missed = j.stops[k].missed = False
    return Label(
        "unexplained_stop", SCENARIO_RULES["unexplained_stop"], detail=f"{delay / HOUR:.1f} h"
    )


def _inland_turn(rng: random.Random, net: Network, j: Journey) -> int | None:
    """An inland stop of the journey (not its first or last) where it can turn off."""
    inland = [
        i for i, s in enumerate(j.stops[1:-1], start=1)
        if not net.registry.checkpoint(s.checkpoint_id).kind.is_entry_point
    ]  # fmt: skip
    return rng.choice(inland) if inland else None


def circular_reimport(rng: random.Random, net: Network, j: Journey) -> Label | None:
    """Inland, back out through a border gate, and in again: laundering the origin."""
    entry = j.stops[0].checkpoint_id
    if net.registry.checkpoint(entry).kind.value != "border_gate":
        return None
    # turn back from an inland stop, towards the nearest other border gate
    i = _inland_turn(rng, net, j)
    if i is None:
        return None
    turn = j.stops[i]
    gates = [g for g in net.entries if net.registry.checkpoint(g).kind.value == "border_gate"]
    gate = min(gates, key=lambda g: (net.km(turn.checkpoint_id, g), g))
    out_path = net.route(turn.checkpoint_id, gate)[1:]
    back_path = net.route(gate, j.destination)[1:]
    stops = j.stops[: i + 1]
    t, previous = turn.at, turn.checkpoint_id
    for n, cp in enumerate(out_path):
        t += _drive(net, rng, previous, cp)
        stops.append(Stop(cp, t, direction="outbound" if n == len(out_path) - 1 else "passing"))
        previous = cp
    t += rng.uniform(1 * HOUR, 6 * HOUR)
    stops.append(Stop(gate, t, direction="inbound", act=True))
    for cp in back_path:
        t += _drive(net, rng, previous, cp)
        stops.append(Stop(cp, t))
        previous = cp
    j.stops = stops
    j.declared_route = [s.checkpoint_id for s in stops]  # the loop is declared, to look legal
    return Label("circular_reimport", SCENARIO_RULES["circular_reimport"], detail=gate)


def second_entry(rng: random.Random, net: Network, j: Journey) -> Label | None:
    """Entered, then inbound again at another border gate, port or airport with no exit
    recorded between: goods taken out unseen and re-imported on the same documents."""
    first = j.stops[0]
    if not net.registry.checkpoint(first.checkpoint_id).kind.is_entry_point:
        return None
    i = _inland_turn(rng, net, j)
    if i is None:
        return None
    turn = j.stops[i]
    others = [e for e in net.entries if e != first.checkpoint_id]
    again = min(others, key=lambda e: (net.km(turn.checkpoint_id, e), e))
    first.direction, first.missed = "inbound", False
    # within the leg's budget: the time out of the country stays hidden
    t = turn.at + _drive(net, rng, turn.checkpoint_id, again) + rng.uniform(0.5 * HOUR, 2 * HOUR)
    stops = [*j.stops[: i + 1], Stop(again, t, direction="inbound", act=True)]
    previous = again
    for cp in net.route(again, j.destination)[1:]:
        t += _drive(net, rng, previous, cp)
        stops.append(Stop(cp, t))
        previous = cp
    j.stops = stops
    j.declared_route = [s.checkpoint_id for s in stops]
    return Label("second_entry", SCENARIO_RULES["second_entry"], detail=again)


def vehicle_swap(rng: random.Random, net: Network, j: Journey) -> Label | None:
    """From a stop on, the goods travel on another truck: its plate is read there."""
    if len(j.stops) < 2:
        return None
    k = rng.randrange(1, len(j.stops))
    declared = j.vehicle_plate
    prefix = declared[:-9]  # the run's namespace, before "NNC-NNNNN"
    while True:
        other = f"{prefix}{rng.randint(11, 99)}C-{rng.randint(10000, 99999)}"
        if sum(a != b for a, b in zip(other, declared, strict=True)) >= 3:
            break
    for stop in j.stops[k:]:
        stop.plate = other
    j.stops[k].act, j.stops[k].missed = True, False
    return Label("vehicle_swap", SCENARIO_RULES["vehicle_swap"], detail=other)


def seal_tampering(rng: random.Random, net: Network, j: Journey) -> Label | None:
    """The seal, intact when read before, is broken (or gone) from a stop on."""
    if len(j.stops) < 2:
        return None
    k = rng.randrange(1, len(j.stops))
    found = "absent" if rng.random() < 0.3 else "broken"
    for stop in j.stops[k:]:
        stop.seal = found
    j.stops[k - 1].missed = False  # the intact reading before
    j.stops[k].act, j.stops[k].missed = True, False
    return Label("seal_tampering", SCENARIO_RULES["seal_tampering"], detail=found)


Scenario = Callable[[random.Random, Network, Journey], Label | None]
SCENARIOS: dict[str, Scenario] = {
    "route_deviation": route_deviation,
    "cloned_documents": cloned_documents,
    "weight_change": weight_change,
    "unexplained_stop": unexplained_stop,
    "circular_reimport": circular_reimport,
    "second_entry": second_entry,
    "vehicle_swap": vehicle_swap,
    "seal_tampering": seal_tampering,
}
# Scenarios the generator plants itself: they choose the journey's start, or depend on
# seizures earlier in the run.
CONTEXT_SCENARIOS = ("entry_without_border", "linked_to_offender", "high_risk_corridor")
ALL_SCENARIOS = (*SCENARIOS, *CONTEXT_SCENARIOS)
