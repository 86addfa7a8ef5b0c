"""`goodsflow publish FILE` and `goodsflow outbox status|flush`: the checkpoint side."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import IO

import click

from goodsflow.settings import Settings, load_settings
from producers.exceptions import EpcisError
from producers.files import detect_format, read_events
from producers.forwarder import FlushResult, flush_outbox
from producers.outbox import SQLiteOutbox
from producers.publisher import KafkaEventPublisher
from producers.simulation import ALL_SCENARIOS, SimulationConfig, Simulator
from producers.simulation.generator import MIXES
from producers.simulation.output import to_file, write_truth
from producers.simulation.output import to_kafka as send_to_kafka
from schemas import VIETNAM_TZ, Event

ACCEPT_BATCH = 500


def _flush(settings: Settings, outbox: SQLiteOutbox, timeout_s: float) -> FlushResult:
    return flush_outbox(
        outbox,
        settings.bootstrap_servers,
        topic=settings.topics.checkpoint_events,
        timeout_s=timeout_s,
        connect_timeout_s=settings.outbox.connect_timeout_s,
    )


def _explain(result: FlushResult, outbox: SQLiteOutbox) -> None:
    if result.error:
        click.echo(
            f"warning: {result.error}\n{result.pending} events wait in the outbox "
            f"{outbox.path}; they are safe on disk: run `goodsflow outbox flush` when Kafka "
            f"is reachable",
            err=True,
        )


class RejectFile:
    """Rejected input, one JSON record per line, opened only when something is rejected."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._out: IO[str] | None = None

    def add(self, where: str, record: dict[str, object]) -> None:
        self.count += 1
        if self._out is None:
            self._out = self.path.open("w", encoding="utf-8")
        self._out.write(json.dumps(record, ensure_ascii=False) + "\n")
        click.echo(f"{where}: rejected: {record['reason']}", err=True)

    def close(self) -> None:
        if self._out is not None:
            self._out.close()


def _finish(
    settings: Settings,
    outbox: SQLiteOutbox,
    accepted: int,
    rejects: RejectFile,
    no_send: bool,
    timeout_s: float,
) -> None:
    """Send (unless --no-send), print the summary, exit 1 when anything was rejected."""
    rejects.close()
    result = FlushResult(0, outbox.status().pending)
    if not no_send:
        result = _flush(settings, outbox, timeout_s)
    click.echo(
        f"sent {result.sent}, rejected {rejects.count}, queued {result.pending} "
        f"({accepted} new events accepted into {outbox.path})"
    )
    if rejects.count:
        click.echo(f"rejected input and reasons: {rejects.path}", err=True)
    _explain(result, outbox)
    if rejects.count:
        raise SystemExit(1)


_REJECTS = click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    help="where rejected input goes (default FILE.rejects.jsonl)",
)
_NO_SEND = click.option("--no-send", is_flag=True, help="only queue in the outbox; send later")
_TIMEOUT = click.option(
    "--timeout", "timeout_s", default=60.0, show_default=True, help="send timeout, s"
)


@click.command("publish")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), help="default: by suffix")
@_REJECTS
@_NO_SEND
@_TIMEOUT
def publish_events(
    file: Path, fmt: str | None, rejects: Path | None, no_send: bool, timeout_s: float
) -> None:
    """Validate the events in FILE (JSON lines, or CSV with a header), queue them durably
    in the local outbox, and send them to Kafka.

    Each rejected line goes to the reject file with its line number and the reason, and the
    command exits 1 when any line was rejected. Events that cannot be sent now stay in the
    outbox (see `goodsflow outbox`).
    """
    settings = load_settings()
    reject_file = RejectFile(rejects or file.with_name(file.name + ".rejects.jsonl"))
    accepted = 0
    with SQLiteOutbox(settings.outbox.path) as outbox:
        batch: list[Event] = []
        with click.progressbar(
            read_events(file, fmt or detect_format(file)),
            label=f"validating {file.name}",
            show_pos=True,
            file=click.get_text_stream("stderr"),
        ) as lines:
            for line in lines:
                if line.event is not None:
                    batch.append(line.event)
                    if len(batch) >= ACCEPT_BATCH:
                        accepted += outbox.accept(batch)
                        batch.clear()
                    continue
                assert line.error is not None
                reject_file.add(
                    f"{file}:{line.number}",
                    {
                        "line": line.number,
                        "reason": line.error.reason,
                        "problems": line.error.problems,
                        "raw": line.raw,
                    },
                )
        accepted += outbox.accept(batch)
        _finish(settings, outbox, accepted, reject_file, no_send, timeout_s)


@click.command("import-epcis")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--locations",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="location table: EPCIS readPoint/bizLocation ids -> checkpoint ids (JSON or CSV)",
)
@_REJECTS
@_NO_SEND
@_TIMEOUT
def import_epcis(
    file: Path, locations: Path | None, rejects: Path | None, no_send: bool, timeout_s: float
) -> None:
    """Import a GS1 EPCIS 2.0 JSON / JSON-LD document as contract-v1 events.

    ObjectEvent, AggregationEvent and TransformationEvent become scans, inspections, cargo
    transfers and (from errorDeclaration) corrections; docs/EPCIS.md has the rules. Events
    that cannot be mapped go to the reject file with the reason; a malformed document is an
    error and nothing of it is imported. Re-importing a document changes nothing.
    """
    from producers.epcis.locations import load_locations
    from producers.epcis.mapping import map_document, read_document

    settings = load_settings()
    table = load_locations(locations)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise EpcisError(f"cannot read {file}: {exc.strerror}") from None
    result = map_document(read_document(raw), table)
    reject_file = RejectFile(rejects or file.with_name(file.name + ".rejects.jsonl"))
    for reject in result.rejects:
        reject_file.add(
            f"{file}: eventList[{reject.index}]",
            {
                "index": reject.index,
                "eventID": reject.epcis_event_id,
                "reason": reject.reason,
                "event": reject.event,
            },
        )
    with SQLiteOutbox(settings.outbox.path) as outbox:
        accepted = outbox.accept(result.events)
        click.echo(f"mapped {len(result.events)} events from {file}")
        _finish(settings, outbox, accepted, reject_file, no_send, timeout_s)


@click.group("outbox")
def outbox_group() -> None:
    """The checkpoint's local outbox: events accepted but maybe not yet sent."""


@outbox_group.command("status")
def status() -> None:
    """How many events wait, since when, and the last send error."""
    settings = load_settings()
    with SQLiteOutbox(settings.outbox.path) as outbox:
        st = outbox.status()
    click.echo(f"outbox {settings.outbox.path}: {st.pending} pending, {st.sent} sent")
    if st.oldest_pending_accepted_at:
        click.echo(f"oldest pending accepted at {st.oldest_pending_accepted_at}")
    if st.last_error:
        click.echo(f"last error: {st.last_error}")


@outbox_group.command("flush")
@click.option("--timeout", "timeout_s", default=60.0, show_default=True, help="send timeout, s")
@click.option("--watch", type=float, help="keep flushing every WATCH seconds until Ctrl-C")
def flush(timeout_s: float, watch: float | None) -> None:
    """Send every pending event to Kafka (exit 3 when some could not be sent)."""
    settings = load_settings()
    with SQLiteOutbox(settings.outbox.path) as outbox:
        while True:
            result = _flush(settings, outbox, timeout_s)
            click.echo(f"sent {result.sent}, pending {result.pending}")
            _explain(result, outbox)
            if watch is None:
                break
            time.sleep(watch)
    if result.pending:
        raise SystemExit(3)


@click.command("simulate")
@click.option("--shipments", type=click.IntRange(1), default=1000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="JSON-lines file")
@click.option("--kafka", "to_kafka", is_flag=True, help="send to Kafka instead of a file")
@click.option("--topic", help="with --kafka (default: the checkpoint-events topic)")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="max events/s")
@click.option(
    "--time-compression",
    type=click.FloatRange(min=0, min_open=True),
    help="with --kafka: simulated time runs this many times faster than real time",
)
@click.option(
    "--truth",
    type=click.Path(dir_okay=False, path_type=Path),
    help="ground truth file (default: OUT.truth.jsonl, or simulation.truth.jsonl)",
)
@click.option("--days", type=click.FloatRange(min=0.01), default=30.0, show_default=True)
@click.option("--start", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]))
@click.option("--scenario-share", type=click.FloatRange(0, 1), default=0.08, show_default=True)
@click.option("--scenarios", help=f"comma-separated subset of: {', '.join(ALL_SCENARIOS)}")
@click.option(
    "--mix",
    type=click.Choice(MIXES),
    default="realistic",
    show_default=True,
    help="realistic: night rests, border queues (longer before Tết), plate misreads, "
    "weighbridges off by up to 2 %, missed scans, events up to an hour late, routes back "
    "into a province; clean: none of that",
)
def simulate(
    shipments: int,
    seed: int,
    out: Path | None,
    to_kafka: bool,
    topic: str | None,
    rate: float | None,
    time_compression: float | None,
    truth: Path | None,
    days: float,
    start: datetime | None,
    scenario_share: float,
    scenarios: str | None,
    mix: str,
) -> None:
    """Generate realistic checkpoint traffic with planted suspicious scenarios.

    Events go to --out (JSON lines, for replay with `goodsflow publish`) or, with --kafka,
    straight to Kafka; the ground truth (which shipments carry which scenario, the events
    of the act and when) goes to a separate file, never into the events. The same seed
    gives the same traffic.
    """
    if (out is None) == (not to_kafka):
        raise click.UsageError("give exactly one of --out FILE and --kafka")
    names = tuple(s.strip() for s in scenarios.split(",")) if scenarios else ALL_SCENARIOS
    options: dict[str, object] = {}
    if start is not None:
        options["start"] = start if start.tzinfo else start.replace(tzinfo=VIETNAM_TZ)
    if to_kafka:  # event time on every partition, and a last beat so all is judged
        options["heartbeat_minutes"] = 30.0
    try:
        config = SimulationConfig(
            shipments=shipments, seed=seed, days=days, scenario_share=scenario_share,
            scenarios=names if scenarios is not None else ALL_SCENARIOS, mix=mix,
            **options,  # type: ignore[arg-type]
        )  # fmt: skip
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--scenarios") from None
    sim = Simulator(config)
    truth = truth or (
        out.with_name(out.name + ".truth.jsonl") if out else Path("simulation.truth.jsonl")
    )
    started = time.monotonic()
    with click.progressbar(
        length=shipments, label="simulating", show_pos=True, file=click.get_text_stream("stderr")
    ) as bar:
        done = 0

        def progress(_: int) -> None:
            nonlocal done
            bar.update(sim.shipments - done)
            done = sim.shipments

        if out is not None:
            with out.open("w", encoding="utf-8") as handle:
                count = to_file(sim.events(), handle, progress)
        else:
            settings = load_settings()
            topic = topic or settings.topics.checkpoint_events
            count = send_to_kafka(
                sim.events(), settings.bootstrap_servers, topic, progress, rate, time_compression
            )
    write_truth(truth, sim.truth)
    elapsed = time.monotonic() - started
    by_scenario: dict[str, int] = {}
    for record in sim.truth:
        by_scenario[record.scenario] = by_scenario.get(record.scenario, 0) + 1
    click.echo(
        f"{count} events for {sim.shipments} shipments in {elapsed:.1f} s "
        f"({count / elapsed:,.0f} events/s) -> {out or f'Kafka topic {topic}'}"
    )
    click.echo(
        f"ground truth: {len(sim.truth)} labelled shipments -> {truth} ("
        + ", ".join(f"{k} {v}" for k, v in sorted(by_scenario.items()))
        + ")"
    )


@click.command("ticker")
@click.option(
    "--every", "every_s", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
    help="seconds between heartbeats",
)  # fmt: skip
@click.option("--source", default=None, help="who writes them (default: ticker-<host name>)")
@click.option("--once", is_flag=True, help="write one heartbeat and exit")
def ticker(every_s: float, source: str | None, once: bool) -> None:
    """Write stream heartbeats (the current time) to every partition of checkpoint-events.

    Event time in goodsflow moves only with what is in the log: on a partition where no
    checkpoint writes for a while, the judgements that wait for event time (unexplained
    stops, the rules about other shipments) wait too. A ticker keeps every partition's
    time moving; run one beside the worker in a live deployment (docs/STREAMS.md).
    """
    import socket

    from schemas import StreamHeartbeat

    settings = load_settings()
    source = source or f"ticker-{socket.gethostname()}"[:128]
    with KafkaEventPublisher(settings.bootstrap_servers, settings.topics.checkpoint_events) as pub:
        while True:
            now = datetime.now(VIETNAM_TZ).replace(microsecond=0)
            pub.heartbeat(StreamHeartbeat(occurred_at=now, source=source))
            pub.flush()
            if once:
                click.echo(f"heartbeat {now.isoformat()} to {len(pub.partitions())} partitions")
                return
            time.sleep(every_s)
