"""`goodsflow graph ...`: set up the Neo4j graph and ask it the investigators' questions.

Every question prints a table by default (times in Vietnam time, UTC+7; places with their
Vietnamese names), or ``--json`` / ``--csv`` (times with the event's own offset).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel

from goodsflow.bootstrap import neo4j_driver
from goodsflow.settings import load_settings
from graph.exceptions import GraphUnavailable, NotFound, QueryError
from graph.queries import ENTITY_KEYS, MAX_HOPS, Neo4jQueries
from graph.results import MAX_ROWS
from graph.writer import Neo4jGraphWriter
from schemas import VIETNAM_TZ, GoodsCategory, load_registry


@click.group("graph")
def graph_group() -> None:
    """The supply-chain graph in Neo4j."""


@graph_group.command("init")
def init() -> None:
    """Create constraints and indexes and load localities and checkpoints (idempotent)."""
    settings = load_settings()
    with neo4j_driver(settings) as driver:
        Neo4jGraphWriter(driver, settings.neo4j.database).init_schema(load_registry())
    click.echo("graph schema and reference data are in place")


@graph_group.command("summary")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def summary(as_json: bool) -> None:
    """Count nodes by label and relationships by type."""
    settings = load_settings()
    with neo4j_driver(settings) as driver:
        counts = Neo4jGraphWriter(driver, settings.neo4j.database).summary()
    if as_json:
        click.echo(json.dumps(counts, indent=2))
        return
    for kind, table in counts.items():
        click.echo(f"{kind}:")
        for name, count in table.items():
            click.echo(f"  {name:<16} {count:>8}")


# -- shared options and output -------------------------------------------------------------
class _When(click.ParamType):
    """An ISO date or date-time; without an offset it is Vietnam time."""

    name = "datetime"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date or date-time (2026-11-25 or 2026-11-25T08:00)")
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=VIETNAM_TZ)


WHEN = _When()
FORMATS = click.Choice(["table", "json", "csv"])


def _output(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--json", "fmt", flag_value="json", help="print JSON")(func)
    func = click.option("--csv", "fmt", flag_value="csv", help="print CSV")(func)
    return click.option("--table", "fmt", flag_value="table", default=True, hidden=True)(func)


def _window(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--until", type=WHEN, required=True, help="end (excluded)")(func)
    return click.option("--since", type=WHEN, required=True, help="start (included)")(func)


def _page(default: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        func = click.option("--offset", default=0, show_default=True, type=click.IntRange(0))(func)
        limit = click.IntRange(1, MAX_ROWS)
        return click.option("--limit", default=default, show_default=True, type=limit)(func)

    return wrap


@contextmanager
def open_queries() -> Iterator[Neo4jQueries]:
    settings = load_settings()
    with neo4j_driver(settings) as driver:
        try:
            yield Neo4jQueries(driver, settings.neo4j.database, settings.neo4j.query_timeout_s)
        except (QueryError, NotFound) as exc:
            raise click.ClickException(str(exc)) from None
        except GraphUnavailable as exc:
            raise click.ClickException(f"Neo4j is not available: {exc}") from None


def _vn(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(VIETNAM_TZ).strftime("%Y-%m-%d %H:%M")
    if value is None or value is False:
        return ""
    if value is True:
        return "yes"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def _emit(rows: list[dict[str, Any]], fmt: str, columns: list[str]) -> None:
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=_iso))
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _iso(v) if isinstance(v, datetime) else v for k, v in row.items()})
        click.echo(buffer.getvalue(), nl=False)
    else:
        cells = [[_vn(row.get(c)) for c in columns] for row in rows]
        widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
        click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
        for r in cells:
            click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
        if not rows:
            click.echo("(nothing)")


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _dump(models: Sequence[BaseModel]) -> list[dict[str, Any]]:
    return [m.model_dump() for m in models]


def _place(checkpoint_id: str) -> str:
    registry = load_registry()
    cp = registry.checkpoint(checkpoint_id)
    return f"{cp.name} ({registry.locality(cp.locality).name})"


# -- the questions ---------------------------------------------------------------------------
@graph_group.command("trace")
@click.argument("shipment_id")
@click.option("--limit", default=500, show_default=True, type=click.IntRange(1, MAX_ROWS))
@click.option("--geojson", is_flag=True, help="print the route as GeoJSON for a map")
@_output
def trace(shipment_id: str, limit: int, geojson: bool, fmt: str) -> None:
    """A shipment's route in order, with its alerts (times in Vietnam time)."""
    with open_queries() as q:
        result = q.trace(shipment_id, limit=limit)
    if geojson:
        click.echo(json.dumps(result.geojson(load_registry()), ensure_ascii=False, indent=2))
        return
    if fmt == "json":
        click.echo(result.model_dump_json(indent=2))
        return
    rows = [{**p.model_dump(), "place": _place(p.checkpoint_id)} for p in result.passages]
    columns = ["occurred_at", "checkpoint_id", "place", "direction", "observed_weight_kg"]
    _emit(rows, fmt, [*columns, "retracted", "event_id"])
    if fmt == "table":
        click.echo(f"localities: {' → '.join(result.localities) or '-'}")
        for a in result.alerts:
            click.echo(f"alert {a.alert_id} [{a.status}] {a.rule} severity {a.severity}")
            click.echo(f"  {a.explanation_vi}")
            click.echo(f"  {a.explanation_en}")
            click.echo(f"  evidence: {', '.join(a.evidence_event_ids)}")


@graph_group.command("passed")
@click.option("--checkpoint", "checkpoint_id", help="a checkpoint id (goodsflow reference)")
@click.option("--locality", help="a locality code, e.g. LS")
@click.option("--category", type=click.Choice([c.value for c in GoodsCategory]))
@_window
@_page(100)
@_output
def passed(
    checkpoint_id: str | None,
    locality: str | None,
    category: str | None,
    since: datetime,
    until: datetime,
    limit: int,
    offset: int,
    fmt: str,
) -> None:
    """What passed a checkpoint or a locality in a time window."""
    with open_queries() as q:
        rows = q.passed(
            since,
            until,
            checkpoint_id=checkpoint_id,
            locality=locality,
            category=category,
            limit=limit,
            offset=offset,
        )
    columns = ["occurred_at", "shipment_id", "checkpoint_id", "direction", "observed_weight_kg"]
    _emit(_dump(rows), fmt, [*columns, "event_id"])


@graph_group.command("flows")
@click.option("--category", type=click.Choice([c.value for c in GoodsCategory]))
@_window
@_page(100)
@_output
def flows(
    category: str | None, since: datetime, until: datetime, limit: int, offset: int, fmt: str
) -> None:
    """Locality-to-locality movements by goods category in a window, busiest first."""
    with open_queries() as q:
        rows = q.flows(since, until, category=category, limit=limit, offset=offset)
    columns = ["from_locality", "to_locality", "category", "shipments", "weight_kg"]
    _emit(_dump(rows), fmt, columns)


@graph_group.command("hotspots")
@click.option("--by", type=click.Choice(["checkpoint", "locality"]), default="checkpoint")
@_window
@_page(20)
@_output
def hotspots(by: str, since: datetime, until: datetime, limit: int, offset: int, fmt: str) -> None:
    """Checkpoints or localities ranked by open alerts and seizures in a window."""
    with open_queries() as q:
        rows = q.hotspots(since, until, by=by, limit=limit, offset=offset)
    _emit(_dump(rows), fmt, ["kind", "id", "alerts", "seizures"])


KINDS = click.Choice([k for k in ENTITY_KEYS if k != "seizure"])


@graph_group.command("neighbours")
@click.argument("kind", type=KINDS)
@click.argument("key")
@click.option("--hops", default=2, show_default=True, type=click.IntRange(1, MAX_HOPS))
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, MAX_ROWS))
@_output
def neighbours(kind: str, key: str, hops: int, limit: int, fmt: str) -> None:
    """Everything within HOPS relationships of a party, vehicle, driver or shipment."""
    with open_queries() as q:
        result = q.neighbourhood(kind, key, hops=hops, limit=limit)  # type: ignore[arg-type]
    if fmt == "json":
        click.echo(result.model_dump_json(indent=2))
        return
    _emit(_dump(result.nodes), fmt, ["hops", "kind", "id"])
    if fmt == "table":
        click.echo(
            f"{len(result.links)} links" + (" (truncated at --limit)" if result.truncated else "")
        )


@graph_group.command("connect")
@click.argument("kind_a", type=KINDS)
@click.argument("key_a")
@click.argument("kind_b", type=KINDS)
@click.argument("key_b")
@click.option("--max-hops", default=6, show_default=True, type=click.IntRange(1, 8))
@_output
def connect(kind_a: str, key_a: str, kind_b: str, key_b: str, max_hops: int, fmt: str) -> None:
    """How two entities are connected: the shortest paths, with the event of each link."""
    with open_queries() as q:
        paths = q.connection((kind_a, key_a), (kind_b, key_b), max_hops=max_hops)  # type: ignore[arg-type]
    if fmt == "json":
        click.echo(json.dumps(_dump(paths), ensure_ascii=False, indent=2))
        return
    rows = [
        {"path": n, "step": i, **link.model_dump()}
        for n, p in enumerate(paths, start=1)
        for i, link in enumerate(p.links, start=1)
    ]
    _emit(rows, fmt, ["path", "step", "source", "type", "target", "event_id"])


@graph_group.command("rings")
@_window
@click.option("--min-size", default=3, show_default=True, type=click.IntRange(2, 1000))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="write JSON here")
@click.option("--top", default=10, show_default=True, type=click.IntRange(1, 1000))
def rings(since: datetime, until: datetime, min_size: int, out: Path | None, top: int) -> None:
    """Rings of parties, vehicles and drivers tied by shared shipments, ranked by seizures
    and open alerts, and the brokers between them (shipments declared in the window)."""
    from graph.analytics import find_rings

    with open_queries() as q:
        rows = q.shipment_entities(since, until)
    report = find_rings(rows, min_size=min_size)
    if out is not None:
        out.write_text(report.model_dump_json(indent=2), encoding="utf-8")
        click.echo(f"wrote {len(report.rings)} rings and {len(report.brokers)} brokers to {out}")
    click.echo(f"{report.entities} entities, {report.ties} ties, {len(report.rings)} rings")
    for ring in report.rings[:top]:
        click.echo(
            f"#{ring.rank} score {ring.score}: {ring.size} members, {ring.shipments} shipments, "
            f"{ring.seized_shipments} seized, {ring.alerted_shipments} with open alerts"
        )
        click.echo("   " + ", ".join(m.entity for m in ring.members[:8]))
    for broker in report.brokers[:top]:
        rings_touched = ", ".join(f"#{r}" for r in broker.rings)
        click.echo(f"broker {broker.entity} between rings {rings_touched}")


@click.command("api")
@click.option("--host", help="default: GOODSFLOW_API__HOST (127.0.0.1)")
@click.option("--port", type=click.IntRange(1, 65535), help="default: GOODSFLOW_API__PORT (8080)")
def api(host: str | None, port: int | None) -> None:
    """Serve the investigators' HTTP API over Neo4j (tokens from GOODSFLOW_API__TOKENS)."""
    import uvicorn

    from graph.api import create_app
    from graph.cases import CaseDesk, kafka_publisher
    from stack.readiness import kafka_answers

    settings = load_settings()
    tokens = settings.api_tokens()  # refuses to start without
    driver = neo4j_driver(settings)
    queries = Neo4jQueries(driver, settings.neo4j.database, settings.neo4j.query_timeout_s)

    def neo4j_answers() -> bool:
        try:
            driver.verify_connectivity()
            return True
        except Exception:  # any failure means "not ready"; the check reports it
            return False

    checks = {"neo4j": neo4j_answers, "kafka": lambda: kafka_answers(settings.bootstrap_servers)}
    registry = load_registry()
    cases = CaseDesk(
        queries, kafka_publisher(settings.bootstrap_servers, settings.topics.alert_cases), registry
    )
    from streams.config import load_detection_config

    queue = load_detection_config(settings.detection.config).queue
    app = create_app(queries, tokens, checks, registry, cases, queue)
    try:
        uvicorn.run(
            app,
            host=host or settings.api.host,
            port=port or settings.api.port,
            log_level="info",
        )
    finally:
        driver.close()
