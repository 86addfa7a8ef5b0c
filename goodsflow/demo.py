"""`goodsflow demo`: simulated checkpoint traffic through the whole pipeline.

Without servers (the default): the simulator, the same detection handler and engine the
Faust agent runs (in-process, the same partitions), and the networkx graph store, in one
process; it prints alerts and a report (events, alerts by rule and locality, the most
suspicious shipments with their routes, the rings found) and writes the alerts to a file.

With ``--stack``: a Faust worker process, generated traffic published to the real Kafka,
alerts read back from the alerts topic, and the Neo4j graph summarised. Needs the stack
(`goodsflow stack up`; `./dev demo --stack` brings it up and down around this).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import click

from goodsflow.bootstrap import neo4j_driver
from goodsflow.evaluation import InProcessDetection
from goodsflow.settings import load_settings
from graph.writer import Neo4jGraphWriter
from producers.simulation import SimulationConfig, Simulator
from producers.simulation.output import to_kafka
from schemas import VIETNAM_TZ, Alert, load_registry
from streams.readers import TopicTail
from streams.topics import ensure_topics


def start_worker(log_path: Path) -> subprocess.Popen[bytes]:
    """Start `goodsflow worker` as its own process, output to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "goodsflow", "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=os.environ.copy(),
        )


def stop_worker(proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@click.command("demo")
@click.option(
    "--shipments", type=click.IntRange(1, 100_000), help="default: 2000, or 200 with --stack"
)
@click.option("--seed", default=7, show_default=True)
@click.option("--lang", type=click.Choice(["vi", "en"]), default="vi", show_default=True)
@click.option("--stack", "use_stack", is_flag=True, help="through the real Kafka, worker, Neo4j")
@click.option("--timeout", "timeout_s", default=180.0, show_default=True, help="with --stack")
@click.option("--output", type=click.Path(path_type=Path), default=Path("demo-output"))
def demo(
    shipments: int | None, seed: int, lang: str, use_stack: bool, timeout_s: float, output: Path
) -> None:
    """Run simulated traffic through the pipeline; print alerts and a report."""
    if use_stack:
        _stack_demo(shipments or 200, seed, lang, timeout_s, output)
    else:
        from goodsflow.embedded import run_embedded_demo

        run_embedded_demo(shipments or 2000, seed, lang, output)


def _stack_demo(shipments: int, seed: int, lang: str, timeout_s: float, output: Path) -> None:
    """The demo through the real local Kafka, a Faust worker process and Neo4j."""
    started = time.monotonic()
    settings = load_settings()
    ensure_topics(settings.bootstrap_servers, settings.topics)
    sim = Simulator(
        SimulationConfig(
            shipments=shipments,
            seed=seed,
            days=2,
            scenario_share=0.2,
            id_prefix=f"DEMO{int(time.time())}-",
            # two days ending a day ago: times the worker believes (at most 24 h ahead of
            # when the broker receives them), with heartbeats so every judgement is made
            start=datetime.now(VIETNAM_TZ).replace(microsecond=0) - timedelta(days=3),
            heartbeat_minutes=30,
        )
    )
    events = list(sim.events())
    expected = {r.shipment_id for r in sim.truth if r.rule is not None}
    ours = {ev.shipment_id for ev in events}
    # What the engine can know from these events (a stop near the end of the traffic is not
    # overdue yet by event time): the same events in-process, to know when the stack is done.
    knowable = {(a.shipment_id, a.rule.value) for a, _ in InProcessDetection().run(events)}
    worker = start_worker(output / "worker.log")
    try:
        with TopicTail(settings.bootstrap_servers, settings.topics.alerts) as tail:
            to_kafka(
                events,
                settings.bootstrap_servers,
                settings.topics.checkpoint_events,
                lambda _: None,
            )
            click.echo(f"published {len(events)} simulated events for {shipments} shipments")

            def all_flagged(records: list) -> bool:
                if worker.poll() is not None:
                    raise click.ClickException(f"the worker exited; see {output / 'worker.log'}")
                seen = {
                    (alert.shipment_id, alert.rule.value)
                    for alert in (Alert.model_validate_json(r.value) for r in records)
                }
                return knowable <= seen

            records = tail.collect(all_flagged, timeout_s=timeout_s)
        with neo4j_driver(settings) as driver:
            graph = Neo4jGraphWriter(driver, settings.neo4j.database)
            _wait_for_graph(graph, sorted(ours), len(events), timeout_s)
            counts = graph.summary()
    finally:
        stop_worker(worker)

    latest: dict[str, Alert] = {}
    for record in records:
        alert = Alert.model_validate_json(record.value)
        if alert.shipment_id not in ours:  # left over from an earlier run
            continue
        if alert.alert_id not in latest or alert.revision > latest[alert.alert_id].revision:
            latest[alert.alert_id] = alert
    print_alerts(list(latest.values()), expected, lang)
    click.echo("\nGraph (whole database): " + ", ".join(
        f"{name} {n}" for name, n in {**counts["nodes"], **counts["relationships"]}.items()
    ))  # fmt: skip
    output.mkdir(parents=True, exist_ok=True)
    (output / "alerts.jsonl").write_text(
        "".join(a.model_dump_json() + "\n" for a in latest.values()), encoding="utf-8"
    )
    click.echo(f"alerts written to {output / 'alerts.jsonl'}; "
               f"demo took {time.monotonic() - started:.1f} s")  # fmt: skip


def _wait_for_graph(
    graph: Neo4jGraphWriter, shipments: list[str], events: int, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while graph.recorded_event_count(shipments) < events:
        if time.monotonic() > deadline:
            raise click.ClickException("the graph did not receive every event in time")
        time.sleep(0.5)


def print_alerts(alerts: list[Alert], expected: set[str], lang: str) -> None:
    """How many planted shipments were found, and the ten most severe alerts."""
    registry = load_registry()
    flagged = {a.shipment_id for a in alerts}
    found = len(flagged & expected)
    click.echo(
        f"\n{len(alerts)} alerts; {found} of {len(expected)} planted suspicious shipments found, "
        f"{len(flagged - expected)} false alerts"
    )
    for alert in sorted(alerts, key=lambda a: (-a.severity, a.shipment_id))[:10]:
        when = alert.raised_at.astimezone(VIETNAM_TZ).strftime("%d/%m %H:%M")
        places = ", ".join(registry.locality(c).name for c in alert.localities)
        text = alert.explanation_vi if lang == "vi" else alert.explanation_en
        click.echo(f"  [{alert.severity:>3}] {when} (UTC+7) {alert.rule.value} | {places}\n"
                   f"        {text}")  # fmt: skip
