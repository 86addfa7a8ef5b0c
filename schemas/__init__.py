"""The goodsflow contract: events, alerts and the reference registry. Imports nothing else
of goodsflow."""

from schemas.alerts import VIETNAM_TZ, Alert, Evidence, Rule, alert_id_for
from schemas.errors import GoodsflowError, InvalidEventError, UnknownReferenceError
from schemas.events import (
    SCHEMA_VERSION,
    CheckpointScanned,
    Direction,
    Event,
    GoodsCategory,
    GoodsLine,
    Party,
    SealStatus,
    ShipmentDeclared,
    event_to_json,
    parse_event,
)
from schemas.reference import Checkpoint, CheckpointKind, Locality, Registry, load_registry

__all__ = [
    "SCHEMA_VERSION",
    "VIETNAM_TZ",
    "Alert",
    "Checkpoint",
    "CheckpointKind",
    "CheckpointScanned",
    "Direction",
    "Event",
    "Evidence",
    "GoodsCategory",
    "GoodsLine",
    "GoodsflowError",
    "InvalidEventError",
    "Locality",
    "Party",
    "Registry",
    "Rule",
    "SealStatus",
    "ShipmentDeclared",
    "UnknownReferenceError",
    "alert_id_for",
    "event_to_json",
    "load_registry",
    "parse_event",
]
