"""`goodsflow reference ...` and `goodsflow schema export`: the contract, for people and
integrators."""

from __future__ import annotations

import json
from pathlib import Path

import click

from schemas.reference import load_registry


@click.group("reference")
def reference_group() -> None:
    """The reference registry: localities and checkpoints."""


@reference_group.command("localities")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def localities(as_json: bool) -> None:
    """The 11 localities of the northern coordination alliance."""
    reg = load_registry()
    rows = [loc.model_dump() for loc in reg.localities.values()]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    click.echo(f"{'code':<5} {'tên / name':<14} {'ascii':<14} {'lat':>8} {'lon':>9}")
    for loc in reg.localities.values():
        click.echo(
            f"{loc.code:<5} {loc.name:<14} {loc.name_ascii:<14} {loc.lat:>8.4f} {loc.lon:>9.4f}"
        )


@reference_group.command("checkpoints")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.option("--locality", help="only this locality (code, e.g. LS)")
def checkpoints(as_json: bool, locality: str | None) -> None:
    """Checkpoints: border gates, ports, airports, inland stations, markets."""
    reg = load_registry()
    if locality is not None:
        reg.locality(locality.upper())  # a clear error for an unknown code
    rows = [
        cp for cp in reg.checkpoints.values() if locality is None or cp.locality == locality.upper()
    ]
    if as_json:
        payload = [cp.model_dump(mode="json") for cp in rows]
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    click.echo(f"{'id':<16} {'kind':<15} {'loc':<4} {'corridor':<24} {'has':<11} name")
    for cp in rows:
        has = ",".join(
            label for label, on in (("weigh", cp.weighbridge), ("rest", cp.rest_area)) if on
        )
        click.echo(
            f"{cp.id:<16} {cp.kind.value:<15} {cp.locality:<4} {cp.corridor:<24} {has or '-':<11} "
            f"{cp.name}"
        )


@click.group("schema")
def schema_group() -> None:
    """The event contract as JSON Schema."""


@schema_group.command("export")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("docs/schema"),
    show_default=True,
)
def export(out: Path) -> None:
    """Write the JSON Schema of every event type and of alerts into OUT."""
    from schemas.jsonschema import write_schemas

    for path in write_schemas(out):
        click.echo(f"wrote {path}")
