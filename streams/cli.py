"""`goodsflow worker` and `goodsflow topics ...`."""

from __future__ import annotations

import click

from goodsflow.settings import load_settings
from streams.topics import ensure_topics


@click.command("worker")
def worker() -> None:
    """Run the Faust worker: detection, graph sink, dead letters (until Ctrl-C)."""
    from streams.worker import run_worker

    run_worker(load_settings())


@click.group("topics")
def topics_group() -> None:
    """goodsflow's Kafka topics."""


@topics_group.command("create")
def create() -> None:
    """Create goodsflow's topics with their partition counts (existing ones are checked)."""
    settings = load_settings()
    created = ensure_topics(settings.bootstrap_servers, settings.topics)
    for spec in settings.topics.specs():
        what = "created" if spec.name in created else "exists"
        click.echo(f"{spec.name}: {what} ({spec.partitions} partitions)")
