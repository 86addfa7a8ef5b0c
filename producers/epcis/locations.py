"""The location table: EPCIS readPoint / bizLocation identifiers -> goodsflow checkpoints."""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path

from producers.exceptions import EpcisError
from schemas import UnknownReferenceError, load_registry


def default_locations() -> dict[str, str]:
    text = resources.files("producers.epcis").joinpath("locations.json").read_text("utf-8")
    table: dict[str, str] = json.loads(text)["locations"]
    return table


def load_locations(path: Path | None) -> dict[str, str]:
    """The shipped example table, extended (and overridden) by ``path`` when given: a JSON
    object ``{"locations": {uri: checkpoint_id}}`` or ``{uri: checkpoint_id}``, or a CSV
    with columns ``location,checkpoint_id``. Every checkpoint must be in the registry."""
    table = default_locations()
    if path is not None:
        try:
            if path.suffix.lower() == ".csv":
                with path.open(encoding="utf-8", newline="") as handle:
                    extra = {
                        row["location"]: row["checkpoint_id"] for row in csv.DictReader(handle)
                    }
            else:
                data = json.loads(path.read_text(encoding="utf-8"))
                extra = data.get("locations", data)
        except (OSError, ValueError, KeyError) as exc:
            raise EpcisError(f"cannot read the location table {path}: {exc}") from None
        table = {**table, **extra}
    registry = load_registry()
    for location, checkpoint in table.items():
        try:
            registry.checkpoint(checkpoint)
        except UnknownReferenceError:
            raise EpcisError(
                f"location table: {location} maps to unknown checkpoint {checkpoint!r}"
            ) from None
    return table
