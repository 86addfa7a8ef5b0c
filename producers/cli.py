"""`goodsflow publish FILE`: send checkpoint events from a JSON-lines file."""

from __future__ import annotations

from pathlib import Path

import click

from goodsflow.settings import load_settings
from producers.publisher import KafkaEventPublisher
from schemas import InvalidEventError, parse_event


@click.command("publish")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def publish_events(file: Path) -> None:
    """Validate and send the events in FILE (one JSON object per line).

    Lines that break the contract are not sent; each is reported with its line number and
    the reason, and the command exits 1 if any line was rejected.
    """
    settings = load_settings()
    sent = rejected = 0
    with KafkaEventPublisher(settings.bootstrap_servers) as publisher, file.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                publisher.publish(parse_event(line))
                sent += 1
            except InvalidEventError as exc:
                rejected += 1
                click.echo(f"{file}:{number}: rejected: {exc.reason}", err=True)
    click.echo(f"sent {sent}, rejected {rejected}")
    if rejected:
        raise SystemExit(1)
