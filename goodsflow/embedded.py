"""The embedded mode: the whole pipeline in one process, without Kafka or Neo4j.

Simulated traffic goes through the same detection handler and engine the Faust agent runs
(``goodsflow.evaluation.InProcessDetection``: the same partitions, so the same watermarks)
and into the networkx graph store that answers the investigators' queries; only the
transport and the store differ from the real stack. Run it with ``goodsflow demo``.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import click

from goodsflow.demo import print_alerts
from goodsflow.evaluation import InProcessDetection
from graph.analytics import find_rings
from graph.cases import CaseDesk
from graph.embedded import EmbeddedGraph
from graph.embedded_queries import EmbeddedQueries
from producers.simulation import SimulationConfig, Simulator
from schemas import (
    Alert,
    AlertStatus,
    CaseAction,
    CaseOutcome,
    CaseStep,
    Registry,
    load_registry,
    parse_event,
)

GRAPH_BATCH = 500  # events per graph write, as the worker's graph sink batches them


class EmbeddedCases:
    """Publishes case steps straight into the embedded pipeline, in the worker's order:
    detection first, then the graph (graph.cases.CaseDesk takes it as ``publish``)."""

    def __init__(self, detector: InProcessDetection, graph: EmbeddedGraph) -> None:
        self.detector, self.graph = detector, graph

    def __call__(self, step: CaseStep) -> None:
        self.detector.handle_case(step)
        self.graph.write(steps=[step])


def run_embedded_demo(shipments: int, seed: int, lang: str, output: Path) -> None:
    started = time.monotonic()
    registry = load_registry()
    # ten days with a crackdown, so seizures (and the rules about them) show up too
    config = SimulationConfig(
        shipments=shipments, seed=seed, days=10, scenario_share=0.1, seizure_share=0.1
    )
    sim = Simulator(config)
    detector = InProcessDetection()
    graph = EmbeddedGraph(registry)
    latest: dict[str, Alert] = {}
    pending_events, pending_alerts = [], []
    for simulated in sim.events():
        event = parse_event(simulated.line)
        raised = detector.handle(event)
        pending_events.append(event)
        pending_alerts += raised
        for alert in raised:
            latest[alert.alert_id] = alert  # revisions only grow
        if len(pending_events) >= GRAPH_BATCH:
            graph.write(pending_events, pending_alerts)
            pending_events, pending_alerts = [], []
    graph.write(pending_events, pending_alerts)
    seconds = time.monotonic() - started

    alerts = [a for a in latest.values() if a.status == AlertStatus.OPEN]
    expected = {r.shipment_id for r in sim.truth if r.rule is not None}
    click.echo(
        f"embedded demo (no servers): {sim.shipments:,} shipments, {detector.events:,} events "
        f"through detection and the graph in {seconds:.1f} s "
        f"({detector.events / seconds:,.0f} events/s)"
    )
    print_alerts(alerts, expected, lang)
    _by_rule_and_locality(alerts, registry, lang)
    queries = EmbeddedQueries(graph)
    _top_shipments(alerts, queries, registry, lang)
    _rings(queries, config)
    desk = CaseDesk(queries, EmbeddedCases(detector, graph), registry)
    _task_forces(alerts, expected, queries, desk)
    nodes = Counter(label for label, _ in graph.g.nodes)
    relationships = Counter(data["type"] for _, _, data in graph.g.edges(data=True))
    click.echo(
        "\nGraph (networkx): "
        + ", ".join(f"{k} {v}" for k, v in sorted({**nodes, **relationships}.items()))
    )
    output.mkdir(parents=True, exist_ok=True)
    (output / "alerts.jsonl").write_text(
        "".join(a.model_dump_json() + "\n" for a in latest.values()), encoding="utf-8"
    )
    click.echo(
        f"alerts written to {output / 'alerts.jsonl'}; demo took {time.monotonic() - started:.1f} s"
    )


def _locality_name(registry: Registry, code: str, lang: str) -> str:
    locality = registry.locality(code)
    return locality.name if lang == "vi" else locality.name_ascii


def _by_rule_and_locality(alerts: list[Alert], registry: Registry, lang: str) -> None:
    by_rule = Counter(a.rule.value for a in alerts)
    by_locality = Counter(code for a in alerts for code in a.localities)
    click.echo("\nOpen alerts by rule: " + ", ".join(f"{r} {n}" for r, n in by_rule.most_common()))
    click.echo(
        "Open alerts by locality: "
        + ", ".join(
            f"{_locality_name(registry, c, lang)} {n}" for c, n in by_locality.most_common()
        )
    )


def _top_shipments(
    alerts: list[Alert], queries: EmbeddedQueries, registry: Registry, lang: str
) -> None:
    per_shipment: dict[str, list[Alert]] = {}
    for alert in alerts:
        per_shipment.setdefault(alert.shipment_id, []).append(alert)
    ranked = sorted(
        per_shipment.items(),
        key=lambda item: (-max(a.severity for a in item[1]), -len(item[1]), item[0]),
    )
    click.echo("\nMost suspicious shipments (route as scanned):")
    for shipment_id, its in ranked[:5]:
        route = " → ".join(
            _locality_name(registry, code, lang) for code in queries.trace(shipment_id).localities
        )
        rules = ", ".join(sorted(a.rule.value for a in its))
        click.echo(f"  {shipment_id} [{max(a.severity for a in its)}] {rules}\n    {route}")


def _rings(queries: EmbeddedQueries, config: SimulationConfig) -> None:
    from datetime import timedelta

    until = config.start + timedelta(days=config.days + 1)
    report = find_rings(queries.shipment_entities(config.start, until))
    click.echo(
        f"\nRings: {len(report.rings)} communities of 3 or more among {report.entities:,} "
        "parties, vehicles and drivers; the riskiest:"
    )
    for ring in report.rings[:3]:
        click.echo(
            f"  #{ring.rank} {ring.size} members, {ring.seized_shipments} seized and "
            f"{ring.alerted_shipments} alerted shipments: "
            + ", ".join(m.entity for m in ring.members[:5])
        )


def _task_forces(
    alerts: list[Alert], planted: set[str], queries: EmbeddedQueries, desk: CaseDesk
) -> None:
    """The task forces work the most severe alert of each rule through the same case desk
    as the API: the first is handed to another locality, the rest closed (the simulator's
    ground truth says confirmed or false alarm)."""
    by_rule: dict[str, Alert] = {}
    for alert in sorted(alerts, key=lambda a: (-a.severity, a.alert_id)):
        by_rule.setdefault(alert.rule.value, alert)
    worst = list(by_rule.values())
    if not worst:
        return
    names = {code: loc.name for code, loc in desk.registry.localities.items()}
    click.echo("\nTask forces at work (the case workflow, as through the API):")
    first = worst[0]
    team = f"Đội QLTT {names[first.localities[0]]}"
    desk.act(first.alert_id, CaseAction.ACKNOWLEDGE, actor=team, via="demo")
    to = next(code for code in names if code not in first.localities)
    desk.act(
        first.alert_id, CaseAction.TRANSFER, actor=team, via="demo", to_locality=to,
        note="Xe đi tiếp qua địa bàn của đồng chí, đề nghị theo dõi",
    )  # fmt: skip
    click.echo(
        f"  {first.alert_id} {first.rule.value}: acknowledged by {team}, handed to {names[to]}"
    )
    for alert in worst[1:]:
        outcome = CaseOutcome.CONFIRMED if alert.shipment_id in planted else CaseOutcome.FALSE_ALARM
        team = f"Đội QLTT {names[alert.localities[0]]}"
        desk.act(alert.alert_id, CaseAction.CLOSE, actor=team, via="demo", outcome=outcome)
        click.echo(f"  {alert.alert_id} {alert.rule.value}: closed by {team}, {outcome.value}")
    closed = [r for r in queries.outcomes() if r.confirmed + r.false_alarm]
    click.echo(
        "  confirmed / closed, per rule: "
        + ", ".join(f"{r.rule} {r.confirmed}/{r.confirmed + r.false_alarm}" for r in closed)
    )
