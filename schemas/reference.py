"""The reference registry: localities, checkpoints and the distances between them.

The data lives in ``schemas/data/*.json`` with its source noted in each file. Load it once
with :func:`load_registry`; the registry is immutable.

Example:
    >>> reg = load_registry()
    >>> reg.checkpoint("LS-HUUNGHI").locality
    'LS'
    >>> round(reg.road_distance_km("LS-HUUNGHI", "BN-TUSON"))
    159
"""

from __future__ import annotations

import json
import math
from enum import StrEnum
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field

from schemas.errors import UnknownReferenceError

EARTH_RADIUS_KM = 6371.0088


class CheckpointKind(StrEnum):
    """What a checkpoint is. Border gates, ports and airports are where goods enter."""

    BORDER_GATE = "border_gate"
    PORT = "port"
    AIRPORT = "airport"
    INLAND_STATION = "inland_station"
    MARKET = "market"

    @property
    def is_entry_point(self) -> bool:
        return self in (CheckpointKind.BORDER_GATE, CheckpointKind.PORT, CheckpointKind.AIRPORT)


class Locality(BaseModel):
    """One of the 11 provinces and cities of the alliance."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(pattern=r"^[A-Z]{2}$")
    name: str
    name_ascii: str
    lat: float
    lon: float


class Checkpoint(BaseModel):
    """A place where shipments are scanned or inspected."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    name_ascii: str
    kind: CheckpointKind
    locality: str
    lat: float
    lon: float
    corridor: str
    # A rest area or truck parking lot (trạm dừng nghỉ, bãi đỗ xe) where a long stop is
    # normal: detection allows a rest after a scan here (docs/DETECTION.md).
    rest_area: bool = False
    # Weighs trucks: its scans carry observed_weight_kg, the cargo's weight (the gross
    # reading minus the vehicle's tare). Weights from elsewhere are kept, not judged.
    weighbridge: bool = False


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


class Registry:
    """Localities and checkpoints by id, and road distances between checkpoints."""

    def __init__(
        self, localities: list[Locality], checkpoints: list[Checkpoint], road_factor: float
    ) -> None:
        self.localities: dict[str, Locality] = {loc.code: loc for loc in localities}
        self.checkpoints: dict[str, Checkpoint] = {cp.id: cp for cp in checkpoints}
        self.road_factor = road_factor
        self._road_km: dict[tuple[str, str], float] = {}  # a few hundred pairs, asked often
        for cp in checkpoints:
            if cp.locality not in self.localities:
                raise UnknownReferenceError(
                    f"checkpoint {cp.id} names unknown locality {cp.locality!r}"
                )

    def locality(self, code: str) -> Locality:
        """The locality with this code; raises UnknownReferenceError."""
        try:
            return self.localities[code]
        except KeyError:
            raise UnknownReferenceError(f"unknown locality code {code!r}") from None

    def checkpoint(self, checkpoint_id: str) -> Checkpoint:
        """The checkpoint with this id; raises UnknownReferenceError."""
        try:
            return self.checkpoints[checkpoint_id]
        except KeyError:
            raise UnknownReferenceError(f"unknown checkpoint id {checkpoint_id!r}") from None

    def road_distance_km(self, a: str, b: str) -> float:
        """Estimated road distance: great-circle distance times the road factor."""
        km = self._road_km.get((a, b))
        if km is None:
            ca, cb = self.checkpoint(a), self.checkpoint(b)
            km = great_circle_km(ca.lat, ca.lon, cb.lat, cb.lon) * self.road_factor
            self._road_km[(a, b)] = km
        return km


def _read(name: str) -> dict:
    text = resources.files("schemas").joinpath("data").joinpath(name).read_text(encoding="utf-8")
    data: dict = json.loads(text)
    return data


@cache
def load_registry() -> Registry:
    """The registry shipped with goodsflow (read once, then cached)."""
    loc = _read("localities.json")
    cps = _read("checkpoints.json")
    return Registry(
        [Locality.model_validate(x) for x in loc["localities"]],
        [Checkpoint.model_validate(x) for x in cps["checkpoints"]],
        float(cps["road_factor"]),
    )
