"""The `goodsflow` command. Each package owns its command group; this module assembles them
and turns goodsflow's errors into one-line messages (exit 1) instead of tracebacks.

Run `goodsflow --help`.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

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


_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@cli.command("evaluate")
@click.option("--shipments", type=click.IntRange(100), default=20_000, show_default=True)
@click.option("--seed", "seeds", type=int, multiple=True, help="repeatable; default 101 and 202")
@click.option("--config", type=_FILE, help="detection TOML")
@click.option(
    "--mix",
    type=click.Choice(["realistic", "clean"]),
    default="realistic",
    show_default=True,
    help="realistic: night rests, border queues, plate misreads, weighbridge error, missed "
    "scans, late deliveries, routes back into a province; clean: none of that",
)
@click.option("--events", "events_file", type=_FILE, help="your events (JSON lines or CSV)")
@click.option("--truth", "truth_file", type=_FILE, help="your labels for them (JSON lines)")
@click.option("--json", "as_json", is_flag=True, help="one JSON document per evaluation")
def evaluate_command(
    shipments: int,
    seeds: tuple[int, ...],
    config: Path | None,
    mix: str,
    events_file: Path | None,
    truth_file: Path | None,
    as_json: bool,
) -> None:
    """Score detection: precision, recall, F1, false alerts per 100 legitimate shipments
    and detection delay per rule. On simulated traffic with its ground truth (by default),
    or on your own events with your own labels (--events and --truth; the truth format is
    in docs/DETECTION.md)."""
    import json

    from goodsflow.evaluation import (
        TruthFileError,
        evaluate,
        evaluate_files,
        render,
    )
    from goodsflow.evaluation import (
        as_json as evaluation_json,
    )
    from producers.simulation import SimulationConfig
    from streams import load_detection_config

    detection = load_detection_config(config)
    if (events_file is None) != (truth_file is None):
        raise click.UsageError("--events and --truth go together")
    if events_file is not None and truth_file is not None:
        try:
            results = [evaluate_files(events_file, truth_file, detection)]
        except TruthFileError as exc:
            raise click.BadParameter(str(exc), param_hint="--truth") from None
    else:
        results = [
            evaluate(SimulationConfig(shipments=shipments, seed=seed, mix=mix), detection)
            for seed in seeds or (101, 202)
        ]
    for result in results:
        if as_json:
            click.echo(json.dumps(evaluation_json(result), ensure_ascii=False))
        else:
            click.echo(render(result))
            click.echo()


@cli.command("detect")
@click.argument("events_file", metavar="FILE", type=_FILE)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="write the alerts here (JSON lines) instead of to stdout")  # fmt: skip
@click.option(
    "--until",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z"]),
    help="move event time on to this time at the end (with its offset), so that the "
    "stops due by then are judged",
)
@click.option("--config", type=_FILE, help="detection TOML")
@click.option("--json", "as_json", is_flag=True, help="the summary as JSON (on stderr)")
def detect_command(
    events_file: Path, out: Path | None, until: datetime | None, config: Path | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Run FILE (events as JSON lines, or CSV) through detection in this process, as the
    worker would, in event-time order, and write the latest revision of every alert as
    JSON lines. Lines that
    are no valid event are reported with their number and reason, and skipped."""
    import json
    from collections import Counter

    from goodsflow.evaluation import detect_file
    from streams import load_detection_config

    if until is not None and until.tzinfo is None:
        raise click.BadParameter("give the time with its UTC offset", param_hint="--until")
    detected = detect_file(events_file, load_detection_config(config), until)
    lines = [alert.model_dump_json() for alert in detected.alerts]
    if out is not None:
        out.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    else:
        for line in lines:
            click.echo(line)
    for number, why in detected.rejected[:20]:
        click.echo(f"{events_file}:{number}: skipped: {why}", err=True)
    if len(detected.rejected) > 20:
        click.echo(f"... and {len(detected.rejected) - 20} more lines skipped", err=True)
    open_by_rule = Counter(a.rule.value for a in detected.alerts if a.status.value == "open")
    summary = {
        "file": str(events_file),
        "events": detected.events,
        "skipped_lines": len(detected.rejected),
        "shipments": len(detected.run.shipments),
        "alerts": len(detected.alerts),
        "open_alerts_by_rule": dict(sorted(open_by_rule.items())),
    }
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False), err=True)
    else:
        rules = ", ".join(f"{rule} {n}" for rule, n in sorted(open_by_rule.items())) or "none"
        click.echo(
            f"{detected.events} events of {summary['shipments']} shipments "
            f"({len(detected.rejected)} lines skipped): {len(detected.alerts)} alerts, "
            f"open by rule: {rules}" + (f" -> {out}" if out else ""),
            err=True,
        )
