"""`goodsflow graph ...`: set up and inspect the Neo4j graph."""

from __future__ import annotations

import json

import click

from goodsflow.bootstrap import neo4j_driver
from goodsflow.settings import load_settings
from graph.cypher import SHIPMENT_ROUTE_QUERY
from graph.writer import Neo4jGraphWriter
from schemas import VIETNAM_TZ, load_registry


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


@graph_group.command("trace")
@click.argument("shipment_id")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 10_000))
def trace(shipment_id: str, limit: int) -> None:
    """A shipment's passages in order (times in Vietnam time, UTC+7)."""
    settings = load_settings()
    with neo4j_driver(settings) as driver:
        records, _, _ = driver.execute_query(
            SHIPMENT_ROUTE_QUERY,
            shipment_id=shipment_id,
            limit=limit,
            database_=settings.neo4j.database,
        )
    if not records:
        raise click.ClickException(f"no passages recorded for shipment {shipment_id}")
    registry = load_registry()
    for r in records:
        when = r["occurred_at"].to_native().astimezone(VIETNAM_TZ).strftime("%Y-%m-%d %H:%M")
        locality = registry.locality(r["locality"]).name
        click.echo(f"{when}  {r['checkpoint_id']:<16} {r['checkpoint_name']} ({locality})")
