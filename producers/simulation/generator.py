"""The traffic simulator: legitimate checkpoint traffic across the 11 localities with
suspicious scenarios planted in it, and the ground truth kept apart from the events.

Deterministic for a seed (one ``random.Random``; nothing iterates a set or a hash-ordered
map). Events come out in event-time order: a heap holds the events of shipments under way
and releases them as later shipments start, so memory grows with the shipments on the road,
not with the run. Events are built as plain dicts and encoded once (no model per event: the
contract is checked on samples by the tests).
"""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from producers.simulation.journey import HEALTH, Journey, Realism, events, plan_journey
from producers.simulation.network import Network, road_network
from producers.simulation.scenarios import ALL_SCENARIOS, SCENARIO_RULES, SCENARIOS, Label
from schemas import HEARTBEAT_TYPE, VIETNAM_TZ

DAY = 86400.0
# The last heartbeat comes this long after the last event: past the allowed lateness, so
# every judgement due by the end of the traffic is made (and well within the horizon of
# 24 h a broker-stamped heartbeat may be ahead of its receipt).
FINAL_BEAT = 6 * 3600.0
HOT_CORRIDOR_DAYS = 7.0  # a seizure makes its corridor "hot" for this long
# Inland places where undeclared foreign goods first show up.
SMUGGLING_INLAND_STARTS = ("LS-CHILANG", "LS-DONGKINH", "TN-BACKAN", "LC-YENBAI", "QN-UONGBI")
MIXES = ("clean", "realistic")


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. ``scenario_share`` of the shipments carry a planted scenario."""

    shipments: int
    seed: int = 7
    start: datetime = datetime(2026, 11, 1, tzinfo=VIETNAM_TZ)
    days: float = 30.0
    scenario_share: float = 0.08
    scenarios: tuple[str, ...] = ALL_SCENARIOS
    # Seizures come in crackdowns: in each window, this share of the shipments on the
    # window's corridor is caught. They feed linked_to_offender and high_risk_corridor.
    crackdowns: int = 1
    crackdown_days: float = 4.0
    seizure_share: float = 0.03
    missed_scan_rate: float = 0.02
    weighbridge_noise: float = 0.005  # relative standard deviation
    id_prefix: str = "SIM"
    # Prefixes the ids of parties, vehicles (at most 10 characters: plates have 20) and
    # drivers, so runs sent to one worker do not link to each other's seizures.
    entity_namespace: str = ""
    # Stream heartbeats (schemas/heartbeat.py) every this many minutes of simulated time,
    # and one 6 h after the last event (so every judgement due by then is made): what a
    # producer replaying history writes so event time moves on every partition. None: none.
    heartbeat_minutes: float | None = None
    # "clean": trucks that never rest, scans that read plates right, weighbridges within
    # half a percent, events in time order. "realistic": night rests, border queues (days
    # before Tết), plate misreads, weighbridges off by up to 2 %, 5 % of scans missed,
    # events delivered up to an hour out of order, more domestic traffic, declared routes
    # that leave a province and come back (journey.Realism).
    mix: str = "clean"

    @property
    def realism(self) -> Realism | None:
        return Realism() if self.mix == "realistic" else None

    def __post_init__(self) -> None:
        if self.mix not in MIXES:
            raise ValueError(f"unknown mix {self.mix!r}; known: {', '.join(MIXES)}")
        if len(self.entity_namespace) > 10:
            raise ValueError("entity_namespace: at most 10 characters (plates have 20)")
        unknown = sorted(set(self.scenarios) - set(ALL_SCENARIOS))
        if unknown:
            raise ValueError(f"unknown scenarios {unknown}; known: {', '.join(ALL_SCENARIOS)}")


@dataclass
class TruthRecord:
    """Ground truth for one shipment that carries a scenario (or was seized)."""

    shipment_id: str
    scenario: str
    rule: str | None
    act_event_ids: list[str]
    act_at: str
    detail: str = ""

    def to_json(self) -> str:
        return json.dumps(self.__dict__, ensure_ascii=False)


Entity = tuple[str, str]  # ("party" | "vehicle" | "driver", identifier), as the engine has


@dataclass
class _Links:
    """Who was implicated in seizures and who travelled with whom, with times in whole
    seconds (the resolution of the events' timestamps), so the labels below follow the same
    definitions as the rules (streams/rules/links.py) on the same data."""

    seized: dict[Entity, int] = field(default_factory=dict)  # the earliest seizure
    order: list[Entity] = field(default_factory=list)  # in the order first seized
    together: dict[Entity, dict[Entity, int]] = field(default_factory=dict)  # earliest

    def add_seizure(self, entities: list[Entity], at: int) -> None:
        for entity in entities:
            if entity not in self.seized:
                self.seized[entity] = at
                self.order.append(entity)
            else:
                self.seized[entity] = min(self.seized[entity], at)

    def add_declaration(self, entities: list[Entity], at: int) -> None:
        for entity in entities:
            seen = self.together.setdefault(entity, {})
            for other in entities:
                if other != entity:
                    seen[other] = min(seen.get(other, at), at)

    def known_before(self, t: int) -> list[Entity]:
        return [key for key in self.order if self.seized[key] < t]

    def link(self, entities: list[Entity], t: int) -> str | None:
        """How ``entities`` declared at ``t`` are tied to an earlier seizure, if they are:
        directly, or through one entity seen with them on an earlier declaration."""
        direct = sorted(e for e in entities if self.seized.get(e, t) < t)
        if direct:
            return f"{direct[0][0]} {direct[0][1]}"
        for entity in entities:
            for other, seen_at in sorted(self.together.get(entity, {}).items()):
                if seen_at < t and other not in entities and self.seized.get(other, t) < t:
                    return f"{entity[0]} {entity[1]} via {other[0]} {other[1]}"
        return None


def _entities(j: Journey) -> list[Entity]:
    return list(
        dict.fromkeys(
            [
                ("party", j.shipper["party_id"]),
                ("party", j.consignee["party_id"]),
                ("vehicle", j.vehicle_plate),
                ("driver", j.driver_id),
            ]
        )
    )


class SimulatedEvent(NamedTuple):
    at: float  # epoch seconds
    shipment_id: str
    checkpoint_id: str
    event_type: str
    line: str  # the event as compact JSON


class Simulator:
    """Iterate :meth:`events` for :class:`SimulatedEvent` in event-time order; read
    :attr:`truth` (the labelled shipments) and :attr:`shipments` (how many so far) after."""

    def __init__(self, config: SimulationConfig, network: Network | None = None) -> None:
        self.config = config
        self.net = network or road_network()
        self.rng = random.Random(config.seed)
        self.truth: list[TruthRecord] = []
        self.shipments = 0
        self._links = _Links()
        self._seizures: list[tuple[int, str]] = []  # (time in whole seconds, corridor)
        self._encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        self._t0 = config.start.timestamp()
        self._ids = f"{config.id_prefix}{config.seed}"
        corridors = sorted({self.net.corridor(e) for e in self.net.entries})
        self._crackdowns = [
            (
                self.rng.choice(corridors),
                self._t0 + self.rng.uniform(0, max(0.0, config.days - config.crackdown_days)) * DAY,
            )
            for _ in range(config.crackdowns)
        ]

    # -- helpers ---------------------------------------------------------------------
    def _time(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, VIETNAM_TZ).isoformat(timespec="seconds")

    def _event_id(self, shipment_id: str, suffix: str) -> str:
        return f"{shipment_id}-{suffix}"

    def _corridors(self, journey: Journey) -> list[str]:
        return sorted({self.net.corridor(cp) for cp in journey.declared_route})

    def _hot_corridors(self, t: float) -> list[str]:
        """Corridors with a seizure in the HOT_CORRIDOR_DAYS before ``t`` (whole seconds,
        as the events carry them)."""
        now = int(t)
        since = now - int(HOT_CORRIDOR_DAYS * DAY)
        return sorted({c for at, c in self._seizures if since <= at < now})

    def _plan(self, sid: str, start: float, **choices: Any) -> Journey:
        realism = self.config.realism
        return plan_journey(
            self.rng,
            self.net,
            sid,
            start,
            missed_scan_rate=self.config.missed_scan_rate if realism is None else 0.05,
            weighbridge_noise=self.config.weighbridge_noise,
            namespace=self.config.entity_namespace,
            realism=realism,
            **choices,
        )

    # -- journeys --------------------------------------------------------------------
    def _journey(self, n: int, start: float) -> tuple[Journey, Label | None]:
        cfg, rng = self.config, self.rng
        sid = f"{self._ids}-{n:07d}"
        if not cfg.scenarios or rng.random() >= cfg.scenario_share:
            return self._plan(sid, start), None
        scenario = rng.choice(cfg.scenarios)
        if scenario == "entry_without_border":
            j = self._plan(sid, start, entry=rng.choice(SMUGGLING_INLAND_STARTS), origin="CN")
            j.stops[0].act = True
            j.stops[0].missed = False
            return j, Label("entry_without_border", SCENARIO_RULES["entry_without_border"])
        if scenario == "high_risk_corridor":
            hot = self._hot_corridors(start)
            # steer it onto a hot corridor: enter where that corridor starts
            entries = [e for e in self.net.entries if self.net.corridor(e) in hot]
            entry = rng.choice(entries) if entries else None
            j = self._plan(sid, start, entry=entry, health_goods=True)
            return j, None  # labelled, like every such shipment, by _label_high_risk
        if scenario == "linked_to_offender":
            j = self._plan(sid, start)
            known = self._links.known_before(int(start))
            if known:
                kind, value = known[rng.randrange(len(known))]
                if kind == "party":
                    j.shipper = {"party_id": value, "name": f"Đối tác {value}"}
                elif kind == "vehicle":
                    j.vehicle_plate = value
                else:
                    j.driver_id = value
            return j, None  # labelled, like every linked shipment, by _label_context
        j = self._plan(sid, start)
        return j, SCENARIOS[scenario](rng, self.net, j)

    def _in_crackdown(self, j: Journey) -> bool:
        corridors = self._corridors(j)
        span = self.config.crackdown_days * DAY
        return any(
            c in corridors and start <= j.declared_at < start + span
            for c, start in self._crackdowns
        )

    def _maybe_seize(self, j: Journey) -> bool:
        """In a crackdown, a share of the shipments on its corridor is seized on the way."""
        if len(j.stops) < 2 or not self._in_crackdown(j):
            return False
        if self.rng.random() >= self.config.seizure_share:
            return False
        k = self.rng.randrange(1, len(j.stops))
        stop = j.stops[k]
        stop.missed = False
        at = stop.at + 1800
        j.stops = j.stops[: k + 1]
        sid = j.shipment_id
        goods = [{"hs_code": g["hs_code"], "description": g["description"],
                  "category": g["category"], "quantity": g["quantity"], "unit": g["unit"]}
                 for g in j.goods]  # fmt: skip
        common = {
            "occurred_at": self._time(at),
            "checkpoint_id": stop.checkpoint_id,
            "shipment_id": sid,
        }
        j.extra_events += [
            {"_at": at, "event_id": self._event_id(sid, "i"), "event_type": "inspection.recorded",
             **common, "outcome": "seized",
             "findings": [{"kind": "counterfeit", "description": "Hàng giả nhãn hiệu"}]},
            {"_at": at + 1, "event_id": self._event_id(sid, "z"), "event_type": "seizure.recorded",
             **common, "occurred_at": self._time(at + 1), "seizure_id": f"BB-{sid}",
             "reason": "counterfeit", "goods": goods,
             "parties_implicated": [j.shipper, j.consignee],
             "vehicle_plate": j.vehicle_plate, "driver_id": j.driver_id},
        ]  # fmt: skip
        self._links.add_seizure(_entities(j), int(at + 1))  # the seizure event's time
        self._seizures.append((int(at + 1), self.net.corridor(stop.checkpoint_id)))
        self.truth.append(
            TruthRecord(sid, "seizure", None, [self._event_id(sid, "z")], self._time(at + 1))
        )
        return True

    def _record(self, j: Journey, label: Label) -> None:
        sid = j.shipment_id
        if label.act_is_declaration:
            ids, at = [self._event_id(sid, "d")], j.declared_at
        else:
            acts = [(n, s) for n, s in enumerate(j.stops) if s.act]
            ids = [self._event_id(sid, f"s{n}") for n, _ in acts]
            at = min(s.at for _, s in acts)
        self.truth.append(
            TruthRecord(sid, label.scenario, label.rule, ids, self._time(at), label.detail)
        )

    def _label_context(self, j: Journey) -> None:
        """Label every shipment (planted, seized or not) the two rules about other
        shipments' facts are meant to find: those are facts of the data, not of a plan."""
        scenarios = self.config.scenarios
        if "linked_to_offender" in scenarios:
            how = self._links.link(_entities(j), int(j.declared_at))
            if how is not None:
                rule = SCENARIO_RULES["linked_to_offender"]
                self._record(j, Label("linked_to_offender", rule, True, how))
        if "high_risk_corridor" in scenarios and j.categories & set(HEALTH):
            hot_now = self._hot_corridors(j.declared_at)
            hot = [c for c in self._corridors(j) if c in hot_now]
            if hot:
                rule = SCENARIO_RULES["high_risk_corridor"]
                self._record(j, Label("high_risk_corridor", rule, True, hot[0]))
        self._links.add_declaration(_entities(j), int(j.declared_at))

    # -- the run ---------------------------------------------------------------------
    def _out(self, ts: float, event: dict[str, Any]) -> SimulatedEvent:
        return SimulatedEvent(
            ts, event["shipment_id"], event["checkpoint_id"], event["event_type"],
            self._encode(event),
        )  # fmt: skip

    def events(self) -> Iterator[SimulatedEvent]:
        """The traffic in event-time order, with heartbeats when configured."""
        every = self.config.heartbeat_minutes
        if not every:
            yield from self._events()
            return
        step = every * 60
        beat = None
        last = self._t0
        for ev in self._events():
            beat = beat if beat is not None else ev.at - ev.at % step + step
            while beat <= ev.at:  # every event before the beat is out
                yield self._heartbeat(beat)
                beat += step
            last = ev.at
            yield ev
        yield self._heartbeat(last + FINAL_BEAT)

    def _heartbeat(self, ts: float) -> SimulatedEvent:
        line = self._encode(
            {"event_type": HEARTBEAT_TYPE, "occurred_at": self._time(ts), "source": "simulator"}
        )
        return SimulatedEvent(ts, "", "", HEARTBEAT_TYPE, line)

    def _events(self) -> Iterator[SimulatedEvent]:
        cfg, rng = self.config, self.rng
        rate = cfg.shipments / (cfg.days * DAY)
        pending: list[tuple[float, int, dict[str, Any]]] = []
        seq = 0
        t = self._t0
        jitter = 3600.0 if cfg.realism is not None else 0.0
        for n in range(cfg.shipments):
            t += rng.expovariate(rate)
            while pending and pending[0][0] <= t:
                ts, _, event = heapq.heappop(pending)
                yield self._out(ts, event)
            journey, label = self._journey(n, t)
            if label is not None:
                self._record(journey, label)
            else:
                self._maybe_seize(journey)
            self._label_context(journey)
            self.shipments += 1
            for ts, event in events(journey, self._time, self._event_id):
                if jitter:  # delivered late: an outbox flushed, a link came back
                    ts += rng.uniform(0, jitter)
                heapq.heappush(pending, (ts, seq, event))
                seq += 1
        while pending:
            ts, _, event = heapq.heappop(pending)
            yield self._out(ts, event)
