"""The `goodsflow` command. Each package owns its command group; this module assembles them
and turns goodsflow's errors into one-line messages (exit 1) instead of tracebacks.

Run `goodsflow --help`.
"""

from __future__ import annotations

import sys

import click

from schemas import GoodsflowError


@click.group()
@click.version_option(package_name="goodsflow")
def cli() -> None:
    """goodsflow: trace goods flows across the northern localities; flag suspicious routes."""


def _register() -> None:
    from goodsflow.demo import demo
    from graph.cli import api, graph_group
    from producers.cli import import_epcis, outbox_group, publish_events, simulate, ticker
    from schemas.cli import reference_group, schema_group
    from stack.cli import stack_group
    from streams.cli import topics_group, worker
    from streams.delivery.cli import alerts_group

    cli.add_command(stack_group)
    cli.add_command(topics_group)
    cli.add_command(worker)
    cli.add_command(alerts_group)
    cli.add_command(graph_group)
    cli.add_command(api)
    cli.add_command(publish_events)
    cli.add_command(outbox_group)
    cli.add_command(simulate)
    cli.add_command(ticker)
    cli.add_command(import_epcis)
    cli.add_command(demo)
    cli.add_command(reference_group)
    cli.add_command(schema_group)


_register()


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except GoodsflowError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)


@cli.command("evaluate")
@click.option("--shipments", type=click.IntRange(100), default=20_000, show_default=True)
@click.option("--seed", "seeds", type=int, multiple=True, help="repeatable; default 101 and 202")
@click.option("--config", type=click.Path(exists=True, dir_okay=False), help="detection TOML")
@click.option(
    "--mix",
    type=click.Choice(["realistic", "clean"]),
    default="realistic",
    show_default=True,
    help="realistic: night rests, border queues, plate misreads, weighbridge error, missed "
    "scans, late deliveries, routes back into a province; clean: none of that",
)
def evaluate_command(shipments: int, seeds: tuple[int, ...], config: str | None, mix: str) -> None:
    """Run the simulator's ground truth through the detection engine; print precision,
    recall, F1, false alerts per 100 legitimate shipments and detection delay per rule."""
    from pathlib import Path

    from goodsflow.evaluation import evaluate, render
    from producers.simulation import SimulationConfig
    from streams import load_detection_config

    detection = load_detection_config(Path(config) if config else None)
    for seed in seeds or (101, 202):
        sim = SimulationConfig(shipments=shipments, seed=seed, mix=mix)
        click.echo(render(evaluate(sim, detection)))
        click.echo()
