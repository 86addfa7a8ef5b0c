"""`goodsflow publish FILE` and `goodsflow outbox status|flush`: the checkpoint side."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import click

from goodsflow.settings import Settings, load_settings
from producers.files import detect_format, read_events
from producers.forwarder import FlushResult, flush_outbox
from producers.outbox import SQLiteOutbox
from producers.simulation import ALL_SCENARIOS, SimulationConfig, Simulator
from producers.simulation.output import to_file, write_truth
from producers.simulation.output import to_kafka as send_to_kafka
from schemas import VIETNAM_TZ, Event

ACCEPT_BATCH = 500


def _flush(settings: Settings, outbox: SQLiteOutbox, timeout_s: float) -> FlushResult:
    return flush_outbox(
        outbox,
        settings.bootstrap_servers,
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


@click.command("publish")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), help="default: by suffix")
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    help="where rejected lines go (default FILE.rejects.jsonl)",
)
@click.option("--no-send", is_flag=True, help="only queue in the outbox; send later")
@click.option("--timeout", "timeout_s", default=60.0, show_default=True, help="send timeout, s")
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
    rejects = rejects or file.with_name(file.name + ".rejects.jsonl")
    accepted = rejected = 0
    reject_out = None
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
                rejected += 1
                if reject_out is None:
                    reject_out = rejects.open("w", encoding="utf-8")
                record = {
                    "line": line.number,
                    "reason": line.error.reason,
                    "problems": line.error.problems,
                    "raw": line.raw,
                }
                reject_out.write(json.dumps(record, ensure_ascii=False) + "\n")
                click.echo(f"{file}:{line.number}: rejected: {line.error.reason}", err=True)
        accepted += outbox.accept(batch)
        if reject_out is not None:
            reject_out.close()
        result = FlushResult(0, outbox.status().pending)
        if not no_send:
            result = _flush(settings, outbox, timeout_s)
        click.echo(
            f"sent {result.sent}, rejected {rejected}, queued {result.pending} "
            f"({accepted} new events accepted into {outbox.path})"
        )
        if rejected:
            click.echo(f"rejected lines and reasons: {rejects}", err=True)
        _explain(result, outbox)
    if rejected:
        raise SystemExit(1)


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
@click.option("--topic", default="checkpoint-events", show_default=True, help="with --kafka")
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
def simulate(
    shipments: int,
    seed: int,
    out: Path | None,
    to_kafka: bool,
    topic: str,
    rate: float | None,
    time_compression: float | None,
    truth: Path | None,
    days: float,
    start: datetime | None,
    scenario_share: float,
    scenarios: str | None,
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
    try:
        config = SimulationConfig(
            shipments=shipments, seed=seed, days=days, scenario_share=scenario_share,
            scenarios=names if scenarios is not None else ALL_SCENARIOS, **options,  # type: ignore[arg-type]
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
