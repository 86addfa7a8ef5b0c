"""`goodsflow stack up|down|status|logs`: the local Kafka and Neo4j."""

from __future__ import annotations

import sys
import time

import click

from goodsflow.settings import Settings, load_settings
from stack.launcher import SERVICES, LocalStack, StackConfig


def stack_from_settings(settings: Settings, *, need_password: bool) -> LocalStack:
    s = settings.stack
    return LocalStack(
        StackConfig(
            dir=s.dir,
            kafka_port=s.kafka_port,
            kafka_controller_port=s.kafka_controller_port,
            neo4j_port=s.neo4j_port,
            kafka_heap=s.kafka_heap,
            neo4j_heap=s.neo4j_heap,
            neo4j_pagecache=s.neo4j_pagecache,
            neo4j_password=settings.neo4j_password() if need_password else None,
            start_timeout_s=s.start_timeout_s,
            java_home=s.java_home,
        )
    )


@click.group("stack")
def stack_group() -> None:
    """Run a real Kafka and Neo4j locally from Maven Central jars (no Docker)."""


_ONLY = click.option("--only", type=click.Choice(SERVICES), help="just this server (default: both)")


@stack_group.command("up")
@_ONLY
def up(only: str | None) -> None:
    """Start Kafka and Neo4j (downloading jars on first use); wait until both answer."""
    started = time.monotonic()
    services = (only,) if only else SERVICES
    stack = stack_from_settings(load_settings(), need_password="neo4j" in services)
    done = stack.up(services)
    for service, what in done.items():
        click.echo(f"{service}: {what} on 127.0.0.1:{stack.port(service)}")
    click.echo(f"stack ready in {time.monotonic() - started:.1f} s (data in {stack.dir})")


@stack_group.command("down")
@_ONLY
def down(only: str | None) -> None:
    """Stop the servers `up` started (only those, by their recorded pids)."""
    stack = stack_from_settings(load_settings(), need_password=False)
    for service, what in stack.down((only,) if only else SERVICES).items():
        click.echo(f"{service}: {what}")


@stack_group.command("status")
def status() -> None:
    """Show whether each server runs and answers; exit 3 unless both are up."""
    stack = stack_from_settings(load_settings(), need_password=False)
    all_up = True
    for st in stack.status():
        if st.running:
            state = f"running (pid {st.pid})" + ("" if st.answering else ", not answering yet")
        else:
            state = "down" + (
                f" (port {st.port} is held by another process)" if st.answering else ""
            )
        all_up = all_up and st.running and st.answering
        click.echo(f"{st.name}: {state}, 127.0.0.1:{st.port}")
    if not all_up:
        sys.exit(3)


@stack_group.command("logs")
@click.argument("service", type=click.Choice(SERVICES), required=False)
@click.option("-n", "--lines", default=40, show_default=True, help="lines from the end")
def logs(service: str | None, lines: int) -> None:
    """Print the end of a server's log (both when no SERVICE is given)."""
    stack = stack_from_settings(load_settings(), need_password=False)
    for name in [service] if service else list(SERVICES):
        click.echo(f"==> {name}: {stack.server_log(name)}")
        click.echo(stack.log_tail(name, lines))
