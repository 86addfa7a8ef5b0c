"""`goodsflow evaluate`: the simulator's ground truth through the detection engine.

Scoring is per shipment and rule: a shipment labelled with a rule and holding an open alert
of that rule at the end is a true positive; an open alert of a rule on a shipment not
labelled with it is a false positive. Legitimate shipments are those with no label at all
(seized shipments are neither). Detection delay is the simulated time from the planted act
to the moment the alert was first raised: its partition's stream time (latest event time)
then, as the same run through Kafka would see it.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path

from producers.simulation import SCENARIO_RULES, SimulationConfig, Simulator
from producers.simulation.generator import SimulatedEvent
from schemas import (
    VIETNAM_TZ,
    Alert,
    AlertStatus,
    CaseStep,
    Event,
    StreamHeartbeat,
    load_registry,
    parse_record,
)
from streams import DetectionConfig, load_detection_config
from streams.config import QueueConfig
from streams.handler import DetectionHandler, DictStore, ListSink
from streams.queue import daily_queues
from streams.rules import RULES
from streams.rules.base import places_of


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
    seed: str  # what was scored: "seed 101", or the events file
    shipments: int
    events: int
    legitimate: int
    legitimate_alerted: int
    seconds: float
    scores: list[RuleScore]
    queues: list[QueueShare] = field(default_factory=list)

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


@dataclass(frozen=True)
class QueueShare:
    """How much of a locality's traffic its risk queue takes (streams/queue.py), per day
    on average, and how many of the labelled shipments through it the queue holds."""

    locality: str
    days: int
    traffic_per_day: float  # shipments through the locality
    flagged_per_day: float  # queued by their alerts
    sampled_per_day: float  # queued by the random floor
    labelled: int  # labelled shipments with an alert involving the locality
    labelled_queued: int  # of those, in the queue

    @property
    def share(self) -> float:
        queued = self.flagged_per_day + self.sampled_per_day
        return queued / self.traffic_per_day if self.traffic_per_day else 0.0


def queue_shares(
    alerts: Iterable[Alert],
    traffic: dict[str, dict[date, set[str]]],
    labelled: set[str],
    cfg: QueueConfig,
) -> list[QueueShare]:
    """Each locality's queue over the run (the latest revision of every alert)."""
    final = list(alerts)
    shares = []
    for locality in sorted(traffic):
        days = traffic[locality]
        queues = daily_queues(final, locality, cfg, days)
        queued = {q.shipment_id for qs in queues.values() for q in qs if not q.sampled}
        involved = {
            a.shipment_id for a in final
            if locality in a.localities and a.status == AlertStatus.OPEN
        }  # fmt: skip
        n = max(1, len(days))
        shares.append(
            QueueShare(
                locality,
                len(days),
                sum(len(s) for s in days.values()) / n,
                sum(sum(not q.sampled for q in qs) for qs in queues.values()) / n,
                sum(sum(q.sampled for q in qs) for qs in queues.values()) / n,
                len(involved & labelled),
                len(queued & labelled),
            )
        )
    return shares


class InProcessDetection:
    """Simulated traffic through the detection handler in one process: the same engine,
    rules, facts and retention as the worker; the watermark is the stream's latest event
    time minus the allowed lateness, where the worker's comes through the log. Both reach
    the same latest revision of every alert (docs/STREAMS.md)."""

    def __init__(self, detection: DetectionConfig | None = None) -> None:
        self.store, self._sink = DictStore(), ListSink()
        registry = load_registry()
        self.handler = DetectionHandler(
            self.store, self._sink, detection or load_detection_config(), registry
        )
        self.events = 0
        self.shipments: set[str] = set()  # every shipment seen (states expire by retention)
        # the shipments seen in each locality, by day (Vietnam time): the queues' traffic
        self.traffic: dict[str, dict[date, set[str]]] = {}
        self._locality = places_of(registry).locality

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
        self.shipments.add(event.shipment_id)
        locality = self._locality.get(event.checkpoint_id)
        if locality is not None:
            day = event.occurred_at.astimezone(VIETNAM_TZ).date()
            self.traffic.setdefault(locality, {}).setdefault(day, set()).add(event.shipment_id)
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
    run = _Run.of(detector, detector.run(sim.events()))
    truth = [Truth(t.shipment_id, t.rule, t.act_at) for t in sim.truth]
    return score(
        run, truth, label=f"seed {sim_config.seed}", shipments=sim.shipments, queue=detection.queue
    )


@dataclass(frozen=True)
class Truth:
    """One line of a ground truth: ``shipment_id`` carries something ``rule`` should find
    (``rule`` None: the shipment is neither legitimate nor labelled, a seized one say), the
    act at ``act_at`` (ISO time; None: no delay is measured)."""

    shipment_id: str
    rule: str | None
    act_at: str | None = None


@dataclass
class _Run:
    final: dict[tuple[str, str], Alert]  # the latest revision of each (shipment, rule)
    first_open: dict[tuple[str, str], datetime]  # stream time when first raised open
    shipments: set[str]
    events: int
    seconds: float
    traffic: dict[str, dict[date, set[str]]]

    @classmethod
    def of(cls, detector: InProcessDetection, alerts: Iterable[tuple[Alert, datetime]]) -> _Run:
        final: dict[tuple[str, str], Alert] = {}
        first_open: dict[tuple[str, str], datetime] = {}
        started = time.perf_counter()
        for alert, now in alerts:
            key = (alert.shipment_id, alert.rule.value)
            final[key] = alert
            if alert.status == AlertStatus.OPEN:
                first_open.setdefault(key, now)
        seconds = time.perf_counter() - started
        return cls(
            final, first_open, detector.shipments, detector.events, seconds, detector.traffic
        )


def score(
    run: _Run,
    truth: Iterable[Truth],
    *,
    label: str,
    shipments: int,
    queue: QueueConfig | None = None,
) -> Evaluation:
    """Per shipment and rule, against the ground truth (the module's docstring)."""
    labels: dict[str, set[str]] = {}
    acts: dict[tuple[str, str], datetime] = {}
    neither: set[str] = set()
    for record in truth:
        if record.rule is None:
            neither.add(record.shipment_id)
            continue
        labels.setdefault(record.shipment_id, set()).add(record.rule)
        if record.act_at is not None:
            acts[(record.shipment_id, record.rule)] = datetime.fromisoformat(record.act_at)
    open_alerts = {key for key, alert in run.final.items() if alert.status == AlertStatus.OPEN}
    scores = []
    for rule in sorted(set(SCENARIO_RULES.values()) | {rule.value for rule in RULES}):
        found = RuleScore(rule)
        labelled = {sid for sid, rules in labels.items() if rule in rules}
        alerted = {sid for sid, r in open_alerts if r == rule}
        found.labelled = len(labelled)
        found.tp, found.fp, found.fn = (
            len(alerted & labelled), len(alerted - labelled), len(labelled - alerted),
        )  # fmt: skip
        found.delays_min = [
            (run.first_open[(sid, rule)] - acts[(sid, rule)]).total_seconds() / 60
            for sid in alerted & labelled
            if (sid, rule) in acts
        ]
        scores.append(found)
    legitimate = [sid for sid in run.shipments if sid not in labels and sid not in neither]
    alerted_any = {sid for sid, _ in open_alerts}
    return Evaluation(
        seed=label,
        shipments=shipments,
        events=run.events,
        legitimate=len(legitimate),
        legitimate_alerted=len([sid for sid in legitimate if sid in alerted_any]),
        seconds=run.seconds,
        scores=scores,
        queues=[]
        if queue is None
        else queue_shares(run.final.values(), run.traffic, set(labels), queue),
    )


def _fmt(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.3f}"


def render(result: Evaluation) -> str:
    lines = [
        f"{result.seed}: {result.shipments} shipments, {result.events} events "
        f"({result.events / max(result.seconds, 1e-9):,.0f} events/s through parse + engine)",
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
    if result.queues:
        lines.append("risk queue per locality (a day, on average; streams/detection.toml [queue]):")
    for q in result.queues:
        lines.append(
            f"  {q.locality}  {q.traffic_per_day:7.1f} shipments: {q.flagged_per_day:5.1f} "
            f"queued by alerts + {q.sampled_per_day:4.1f} at random = {q.share:6.1%}; "
            f"labelled shipments queued: {q.labelled_queued} of {q.labelled}"
        )
    return "\n".join(lines)


def as_json(result: Evaluation) -> dict[str, object]:
    """The evaluation as plain values (``--json``)."""

    def one(found: RuleScore) -> dict[str, object]:
        delays = sorted(found.delays_min)
        return {
            "rule": found.rule,
            "labelled": found.labelled,
            "tp": found.tp,
            "fp": found.fp,
            "fn": found.fn,
            "precision": found.precision,
            "recall": found.recall,
            "f1": found.f1,
            "delay_minutes_median": statistics.median(delays) if delays else None,
            "delay_minutes_p95": delays[int(0.95 * (len(delays) - 1))] if delays else None,
        }

    return {
        "source": result.seed,
        "shipments": result.shipments,
        "events": result.events,
        "rules": [one(found) for found in result.scores],
        "overall": one(result.overall),
        "legitimate": result.legitimate,
        "legitimate_alerted": result.legitimate_alerted,
        "false_alerts_per_100": result.false_alerts_per_100,
        "queues": [{**asdict(q), "share": q.share} for q in result.queues],
    }


# -- users' own data ---------------------------------------------------------------------


@dataclass
class Detected:
    """What ``goodsflow detect`` found in a file of events."""

    source: str
    alerts: list[Alert]  # the latest revision of every alert, in the order first raised
    events: int
    rejected: list[tuple[int, str]]  # (line number, why), lines that are no event
    run: _Run


def detect_file(path: Path, detection: DetectionConfig, until: datetime | None = None) -> Detected:
    """Every event of ``path`` (JSON lines or CSV, as ``goodsflow publish`` reads them)
    through the in-process pipeline, in event-time order; event time moves with the
    events (and on to ``until`` at the end, so that the stops due by then are judged).
    A line that is no valid event is set aside with its number and reason."""
    from producers.files import read_events

    detector = InProcessDetection(detection)
    rejected: list[tuple[int, str]] = []
    latest: dict[str, Alert] = {}

    events: list[Event] = []
    for line in read_events(path):
        if line.event is None:
            assert line.error is not None
            rejected.append((line.number, line.error.reason))
        else:
            events.append(line.event)
    # in event time (a stable sort: the file's order among equal times): a file is a
    # bounded stream, and its answers should not depend on how its lines were grouped
    events.sort(key=lambda event: event.occurred_at)

    def alerts() -> Iterator[tuple[Alert, datetime]]:
        for event in events:
            raised = detector.handle(event)
            now = detector.handler.stream_time()
            assert now is not None
            yield from ((alert, now) for alert in raised)
        if until is not None:
            yield from ((alert, until) for alert in detector.tick(until))

    run = _Run.of(detector, _keep_latest(alerts(), latest))
    return Detected(str(path), list(latest.values()), detector.events, rejected, run)


def _keep_latest(
    alerts: Iterable[tuple[Alert, datetime]], latest: dict[str, Alert]
) -> Iterator[tuple[Alert, datetime]]:
    for alert, now in alerts:
        latest.pop(alert.alert_id, None)  # a revision: in the order the alerts were raised
        latest[alert.alert_id] = alert
        yield alert, now


class TruthFileError(ValueError):
    """A ground-truth file that cannot be read: says which line and why."""


def read_truth(path: Path) -> list[Truth]:
    """A ground truth as JSON lines (docs/DETECTION.md): ``shipment_id``, ``rule`` (a
    rule's name, or null for a shipment that is neither legitimate nor labelled), and
    optionally ``act_at`` (when the act happened, RFC 3339 with offset: the detection
    delay is measured from it). Other fields (``scenario``, ``act_event_ids``, what
    ``goodsflow simulate`` writes) are ignored."""
    rules = {rule.value for rule in RULES}
    found: list[Truth] = []
    with path.open("rb") as handle:
        for number, data in enumerate(handle, start=1):
            if not data.strip():
                continue
            try:
                record = json.loads(data)
            except (ValueError, RecursionError) as exc:
                raise TruthFileError(f"{path}:{number}: not JSON: {exc}") from None
            if not isinstance(record, dict):
                raise TruthFileError(f"{path}:{number}: not a JSON object")
            sid, rule, act_at = record.get("shipment_id"), record.get("rule"), record.get("act_at")
            if not isinstance(sid, str) or not sid:
                raise TruthFileError(f"{path}:{number}: shipment_id: a non-empty string needed")
            if rule is not None and rule not in rules:
                raise TruthFileError(
                    f"{path}:{number}: rule: {rule!r} is no rule; known: {', '.join(sorted(rules))}"
                )
            if act_at is not None:
                try:
                    at = datetime.fromisoformat(act_at)
                except (TypeError, ValueError):
                    at = None
                if at is None or at.tzinfo is None:
                    raise TruthFileError(f"{path}:{number}: act_at: an RFC 3339 time with offset")
            found.append(Truth(sid, rule, act_at))
    return found


def evaluate_files(events: Path, truth: Path, detection: DetectionConfig) -> Evaluation:
    """Score detection on the user's events against the user's labels."""
    labels = read_truth(truth)
    detected = detect_file(events, detection)
    shipments = len(detected.run.shipments)
    return score(
        detected.run, labels, label=str(events), shipments=shipments, queue=detection.queue
    )
