"""`goodsflow publish FILE` and `goodsflow outbox status|flush`: the checkpoint side."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from goodsflow.settings import Settings, load_settings
from producers.files import detect_format, read_events
from producers.forwarder import FlushResult, flush_outbox
from producers.outbox import SQLiteOutbox
from schemas import Event

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
