"""`goodsflow evaluate`: the simulator's ground truth through the detection engine.

Scoring is per shipment and rule: a shipment labelled with a rule and holding an open alert
of that rule at the end is a true positive; an open alert of a rule on a shipment not
labelled with it is a false positive. Legitimate shipments are those with no label at all
(seized shipments are neither). Detection delay is the simulated time from the planted act
to the moment the alert was first raised: its partition's stream time (latest event time)
then, as the same run through Kafka would see it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from producers.simulation import SCENARIO_RULES, SimulationConfig, Simulator
from producers.simulation.generator import SimulatedEvent
from schemas import (
    Alert,
    AlertStatus,
    CaseStep,
    Event,
    StreamHeartbeat,
    load_registry,
    parse_record,
)
from streams import DetectionConfig, load_detection_config
from streams.handler import DetectionHandler, DictStore, ListSink
from streams.rules import RULES


@dataclass
class RuleScore:
    rule: str
    labelled: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    delays_min: list[float] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p and r else None


@dataclass
class Evaluation:
    seed: int
    shipments: int
    events: int
    legitimate: int
    legitimate_alerted: int
    seconds: float
    scores: list[RuleScore]

    @property
    def false_alerts_per_100(self) -> float:
        return 100 * self.legitimate_alerted / self.legitimate if self.legitimate else 0.0

    @property
    def overall(self) -> RuleScore:
        total = RuleScore("overall")
        for s in self.scores:
            total.labelled += s.labelled
            total.tp += s.tp
            total.fp += s.fp
            total.fn += s.fn
            total.delays_min += s.delays_min
        return total


class InProcessDetection:
    """Simulated traffic through the detection handler in one process: the same engine,
    rules, facts and retention as the worker; the watermark is the stream's latest event
    time minus the allowed lateness, where the worker's comes through the log. Both reach
    the same latest revision of every alert (docs/STREAMS.md)."""

    def __init__(self, detection: DetectionConfig | None = None) -> None:
        self.store, self._sink = DictStore(), ListSink()
        self.handler = DetectionHandler(
            self.store, self._sink, detection or load_detection_config(), load_registry()
        )
        self.events = 0

    def run(self, events: Iterable[SimulatedEvent]) -> Iterator[tuple[Alert, datetime]]:
        """Each alert raised, with the stream time then (when, in event time, it was
        raised). Heartbeats in the traffic move event time on, as on the real stack."""
        for simulated in events:
            record = parse_record(simulated.line.encode())
            if isinstance(record, StreamHeartbeat):
                alerts = self.tick(record.occurred_at)
            else:
                alerts = self.handle(record)
            now = self.handler.stream_time()
            assert now is not None  # set by the record just handled
            for alert in alerts:
                yield alert, now

    def handle(self, event: Event) -> list[Alert]:
        """One event through the handler; the alerts it raised."""
        self.handler.handle(event)
        self.events += 1
        return self._sink.drain()

    def tick(self, at: datetime) -> list[Alert]:
        """Event time reached ``at`` (a heartbeat); the alerts that raised."""
        self.handler.tick(at)
        return self._sink.drain()

    def handle_case(self, step: CaseStep) -> None:
        """A task force's step on an alert, as the worker's detection stage gives it to
        its detector."""
        self.handler.handle_case(step)


def evaluate(sim_config: SimulationConfig, detection: DetectionConfig) -> Evaluation:
    """Simulate, run every event through the engine in event-time order, score."""
    sim = Simulator(sim_config)
    detector = InProcessDetection(detection)
    final: dict[tuple[str, str], Alert] = {}
    first_open: dict[tuple[str, str], datetime] = {}
    started = time.perf_counter()
    for alert, now in detector.run(sim.events()):
        key = (alert.shipment_id, alert.rule.value)
        final[key] = alert
        if alert.status == AlertStatus.OPEN:
            first_open.setdefault(key, now)
    seconds = time.perf_counter() - started
    count = detector.events
    states = detector.store.states

    labels: dict[str, set[str]] = {}
    acts: dict[tuple[str, str], datetime] = {}
    seized: set[str] = set()
    for record in sim.truth:
        if record.rule is None:
            seized.add(record.shipment_id)
            continue
        labels.setdefault(record.shipment_id, set()).add(record.rule)
        acts[(record.shipment_id, record.rule)] = datetime.fromisoformat(record.act_at)
    open_alerts = {key for key, alert in final.items() if alert.status == AlertStatus.OPEN}

    scores = []
    for rule in sorted(set(SCENARIO_RULES.values()) | {rule.value for rule in RULES}):
        score = RuleScore(rule)
        labelled = {sid for sid, rules in labels.items() if rule in rules}
        alerted = {sid for sid, r in open_alerts if r == rule}
        score.labelled = len(labelled)
        score.tp, score.fp, score.fn = (
            len(alerted & labelled), len(alerted - labelled), len(labelled - alerted),
        )  # fmt: skip
        score.delays_min = [
            (first_open[(sid, rule)] - acts[(sid, rule)]).total_seconds() / 60
            for sid in alerted & labelled
        ]
        scores.append(score)
    legitimate = [sid for sid in states if sid not in labels and sid not in seized]
    alerted_any = {sid for sid, _ in open_alerts}
    return Evaluation(
        seed=sim_config.seed,
        shipments=sim.shipments,
        events=count,
        legitimate=len(legitimate),
        legitimate_alerted=len([sid for sid in legitimate if sid in alerted_any]),
        seconds=seconds,
        scores=scores,
    )


def _fmt(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.3f}"


def render(result: Evaluation) -> str:
    lines = [
        f"seed {result.seed}: {result.shipments} shipments, {result.events} events "
        f"({result.events / result.seconds:,.0f} events/s through parse + engine)",
        f"{'rule':<30} {'labelled':>8} {'TP':>6} {'FP':>6} {'FN':>6} {'precision':>9} "
        f"{'recall':>7} {'F1':>7} {'delay min (median / p95)':>26}",
    ]
    for score in [*result.scores, result.overall]:
        delays = sorted(score.delays_min)
        delay = (
            f"{statistics.median(delays):8.1f} / {delays[int(0.95 * (len(delays) - 1))]:8.1f}"
            if delays
            else "-"
        )
        lines.append(
            f"{score.rule:<30} {score.labelled:>8} {score.tp:>6} {score.fp:>6} {score.fn:>6} "
            f"{_fmt(score.precision):>9} {_fmt(score.recall):>7} {_fmt(score.f1):>7} {delay:>26}"
        )
    lines.append(
        f"false alerts on legitimate shipments: {result.legitimate_alerted} of "
        f"{result.legitimate} = {result.false_alerts_per_100:.2f} per 100"
    )
    return "\n".join(lines)
