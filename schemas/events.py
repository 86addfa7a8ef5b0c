"""Checkpoint events: the contract between checkpoints and the pipeline (schema version 1).

Every event shares one envelope (event_id, event_type, schema_version, occurred_at,
checkpoint_id, shipment_id). ``occurred_at`` must carry a UTC offset: a naive timestamp is
rejected, and the event keeps its own offset (Vietnam time is UTC+7).

Unknown fields are ignored, so a producer on a newer minor revision of v1 does not break an
older consumer; a breaking change gets a new ``schema_version``, which older consumers reject.

Example:
    >>> ev = parse_event(b'{"event_id": "e1", "event_type": "checkpoint.scanned", '
    ...     b'"occurred_at": "2026-11-25T08:00:00+07:00", "checkpoint_id": "LS-HUUNGHI", '
    ...     b'"shipment_id": "SHP-1", "direction": "inbound"}')
    >>> ev.checkpoint_id
    'LS-HUUNGHI'
"""

from __future__ import annotations

import json
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from schemas.errors import InvalidEventError, UnknownReferenceError
from schemas.reference import load_registry

SCHEMA_VERSION = 1

Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]


class GoodsCategory(StrEnum):
    """Fixed list of goods categories. The first four endanger health and come first."""

    FOOD = "food"
    MEDICINE = "medicine"
    COSMETICS = "cosmetics"
    DIETARY_SUPPLEMENTS = "dietary_supplements"
    CLOTHING = "clothing"
    ELECTRONICS = "electronics"
    TOBACCO = "tobacco"
    ALCOHOL = "alcohol"
    MEAT_AND_LIVESTOCK = "meat_and_livestock"
    OTHER = "other"

    @property
    def endangers_health(self) -> bool:
        return self in HEALTH_CATEGORIES


HEALTH_CATEGORIES = frozenset(
    {
        GoodsCategory.FOOD,
        GoodsCategory.MEDICINE,
        GoodsCategory.COSMETICS,
        GoodsCategory.DIETARY_SUPPLEMENTS,
    }
)


def _known_checkpoint(checkpoint_id: str) -> str:
    try:
        load_registry().checkpoint(checkpoint_id)
    except UnknownReferenceError as exc:
        raise ValueError(str(exc)) from None
    return checkpoint_id


class EventEnvelope(BaseModel):
    """Fields every event carries."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: Identifier
    schema_version: Literal[1] = 1
    occurred_at: AwareDatetime
    checkpoint_id: str
    shipment_id: Identifier

    @field_validator("checkpoint_id")
    @classmethod
    def _checkpoint_is_known(cls, value: str) -> str:
        return _known_checkpoint(value)


class Party(BaseModel):
    """A company or person: shipper, consignee or someone implicated."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    party_id: Identifier
    name: str = Field(min_length=1, max_length=300)
    tax_code: str | None = Field(default=None, max_length=20)


class GoodsLine(BaseModel):
    """One line of a declaration."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    hs_code: str = Field(pattern=r"^\d{4,10}$")
    description: str = Field(min_length=1, max_length=500)
    category: GoodsCategory
    quantity: Decimal = Field(gt=0)
    unit: str = Field(min_length=1, max_length=16)
    weight_kg: Decimal = Field(gt=0)
    value_vnd: Decimal = Field(ge=0)


class ShipmentDeclared(EventEnvelope):
    """A shipment was declared, with its parties, goods and intended route."""

    event_type: Literal["shipment.declared"] = "shipment.declared"
    shipper: Party
    consignee: Party
    origin_country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    vehicle_plate: str = Field(min_length=1, max_length=20)
    driver_id: Identifier
    goods: list[GoodsLine] = Field(min_length=1)
    declared_route: list[str] = Field(min_length=1, description="ordered checkpoint ids")
    destination_locality: str

    @field_validator("declared_route")
    @classmethod
    def _route_is_known(cls, value: list[str]) -> list[str]:
        return [_known_checkpoint(cp) for cp in value]

    @field_validator("destination_locality")
    @classmethod
    def _locality_is_known(cls, value: str) -> str:
        try:
            load_registry().locality(value)
        except UnknownReferenceError as exc:
            raise ValueError(str(exc)) from None
        return value

    @property
    def total_weight_kg(self) -> Decimal:
        return sum((line.weight_kg for line in self.goods), Decimal(0))


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    PASSING = "passing"


class SealStatus(StrEnum):
    INTACT = "intact"
    BROKEN = "broken"
    ABSENT = "absent"
    NOT_CHECKED = "not_checked"


class CheckpointScanned(EventEnvelope):
    """A shipment passed a checkpoint."""

    event_type: Literal["checkpoint.scanned"] = "checkpoint.scanned"
    direction: Direction
    observed_plate: str | None = Field(default=None, max_length=20)
    observed_weight_kg: Decimal | None = Field(default=None, gt=0)
    seal_status: SealStatus = SealStatus.NOT_CHECKED


Event = Annotated[ShipmentDeclared | CheckpointScanned, Field(discriminator="event_type")]
_EVENT_ADAPTER: TypeAdapter[ShipmentDeclared | CheckpointScanned] = TypeAdapter(Event)


EVENT_TYPES = ("shipment.declared", "checkpoint.scanned")


def _problems(exc: ValidationError) -> list[dict[str, str]]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        if loc and loc[0] in EVENT_TYPES:  # the union's tag, not a field
            loc = loc[1:]
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = ["event_type"]
        problems.append({"field": ".".join(str(p) for p in loc) or "(root)", "error": err["msg"]})
    return problems


def parse_event(raw: bytes | str) -> ShipmentDeclared | CheckpointScanned:
    """Decode and validate one event from JSON.

    Raises:
        InvalidEventError: the payload is not JSON, not an object, or breaks the contract.
            ``reason`` is one line naming each bad field; ``problems`` lists them.
    """
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEventError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidEventError(f"not a JSON object: got {type(data).__name__}")
    try:
        return _EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        problems = _problems(exc)
        reason = "; ".join(f"{p['field']}: {p['error']}" for p in problems)
        raise InvalidEventError(f"invalid event: {reason}", problems) from None


def event_to_json(event: ShipmentDeclared | CheckpointScanned) -> bytes:
    """Serialise an event for the wire (UTF-8 JSON, offsets kept as given)."""
    return event.model_dump_json().encode("utf-8")
