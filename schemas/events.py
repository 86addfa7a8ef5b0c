"""Checkpoint events: the contract between checkpoints and the pipeline (schema version 1).

Every event shares one envelope (event_id, event_type, schema_version, occurred_at,
checkpoint_id, shipment_id). ``occurred_at`` must carry a UTC offset: a naive timestamp is
rejected, and the event keeps its own offset (Vietnam time is UTC+7).

How the contract evolves (docs/CONTRACT.md has the whole rule):
- within v1, new *optional* fields may appear; consumers ignore fields they do not know;
- a new event type is added to v1; an older consumer dead-letters it, never drops it;
- anything else (a removed or renamed field, a changed meaning or type, a new required
  field) is a new ``schema_version``, which v1 consumers reject.

Example:
    >>> ev = parse_event(b'{"event_id": "e1", "event_type": "checkpoint.scanned", '
    ...     b'"occurred_at": "2026-11-25T08:00:00+07:00", "checkpoint_id": "LS-HUUNGHI", '
    ...     b'"shipment_id": "SHP-1", "direction": "inbound"}')
    >>> ev.checkpoint_id
    'LS-HUUNGHI'
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from schemas.errors import InvalidEventError
from schemas.heartbeat import HEARTBEAT_TYPE, StreamHeartbeat
from schemas.times import canonical
from schemas.values import (
    CheckpointId,
    CorrectionReason,
    CountryCode,
    Direction,
    GoodsLine,
    GoodsQuantity,
    Identifier,
    InspectionFinding,
    InspectionOutcome,
    LocalityCode,
    Party,
    Plate,
    SealStatus,
    SeizureReason,
)

SCHEMA_VERSION = 1

# Read with the one shared timezone object of its offset (schemas/times.py says why).
EventTime = Annotated[AwareDatetime, AfterValidator(canonical)]


class EventEnvelope(BaseModel):
    """Fields every event carries."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: Identifier = Field(description="unique; a repeat is the same event")
    schema_version: Literal[1] = 1
    occurred_at: EventTime = Field(description="when it happened, with its UTC offset")
    checkpoint_id: CheckpointId = Field(description="where it happened (the registry's id)")
    shipment_id: Identifier


class ShipmentDeclared(EventEnvelope):
    """A shipment was declared, with its parties, goods and intended route."""

    event_type: Literal["shipment.declared"] = "shipment.declared"
    shipper: Party
    consignee: Party
    origin_country: CountryCode
    vehicle_plate: Plate
    driver_id: Identifier
    goods: list[GoodsLine] = Field(min_length=1)
    declared_route: list[CheckpointId] = Field(min_length=1, description="ordered checkpoints")
    destination_locality: LocalityCode

    @property
    def total_weight_kg(self) -> Decimal:
        return sum((line.weight_kg for line in self.goods), Decimal(0))


class CheckpointScanned(EventEnvelope):
    """A shipment passed a checkpoint."""

    event_type: Literal["checkpoint.scanned"] = "checkpoint.scanned"
    direction: Direction
    observed_plate: Plate | None = None
    observed_weight_kg: Decimal | None = Field(
        default=None, gt=0, description="only where a weighbridge exists"
    )
    seal_status: SealStatus = SealStatus.NOT_CHECKED


class InspectionRecorded(EventEnvelope):
    """A shipment was inspected; anything but 'cleared' comes with findings."""

    event_type: Literal["inspection.recorded"] = "inspection.recorded"
    outcome: InspectionOutcome
    findings: list[InspectionFinding] = Field(default_factory=list)
    measured_weight_kg: Decimal | None = Field(default=None, gt=0)
    inspector_id: Identifier | None = None

    @model_validator(mode="after")
    def _findings_explain_the_outcome(self) -> Self:
        if self.outcome != InspectionOutcome.CLEARED and not self.findings:
            raise ValueError(f"an inspection with outcome {self.outcome.value!r} needs findings")
        return self


class SeizureRecorded(EventEnvelope):
    """Goods were seized from a shipment."""

    event_type: Literal["seizure.recorded"] = "seizure.recorded"
    seizure_id: Identifier
    reason: SeizureReason
    details: str = Field(default="", max_length=2000)
    goods: list[GoodsQuantity] = Field(min_length=1)
    parties_implicated: list[Party] = Field(default_factory=list)
    vehicle_plate: Plate | None = None
    driver_id: Identifier | None = None


class CargoTransferred(EventEnvelope):
    """Goods moved from this shipment (or vehicle) to another, at ``checkpoint_id``."""

    event_type: Literal["cargo.transferred"] = "cargo.transferred"
    to_shipment_id: Identifier
    from_vehicle_plate: Plate | None = None
    to_vehicle_plate: Plate | None = None
    goods: list[GoodsQuantity] = Field(min_length=1)

    @model_validator(mode="after")
    def _to_another_shipment(self) -> Self:
        if self.to_shipment_id == self.shipment_id:
            raise ValueError("to_shipment_id must differ from shipment_id")
        return self


class EventCorrected(EventEnvelope):
    """An earlier event of the same shipment is retracted (as an EPCIS error declaration).

    ``incorrect_data``: the event happened but its data were wrong; the corrected data come
    as new events listed in ``corrective_event_ids``. ``did_not_occur``: it never happened.
    Nothing is deleted: downstream the retracted event stays, marked as retracted, and the
    alerts it caused are withdrawn or re-scored.
    """

    event_type: Literal["event.corrected"] = "event.corrected"
    corrected_event_id: Identifier
    reason: CorrectionReason
    corrective_event_ids: list[Identifier] = Field(default_factory=list)
    note: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _not_itself(self) -> Self:
        if self.corrected_event_id == self.event_id:
            raise ValueError("an event cannot correct itself")
        return self


Event = (
    ShipmentDeclared
    | CheckpointScanned
    | InspectionRecorded
    | SeizureRecorded
    | CargoTransferred
    | EventCorrected
)
EVENT_CLASSES: tuple[type[EventEnvelope], ...] = (
    ShipmentDeclared,
    CheckpointScanned,
    InspectionRecorded,
    SeizureRecorded,
    CargoTransferred,
    EventCorrected,
)
EVENT_TYPES: tuple[str, ...] = tuple(
    cls.model_fields["event_type"].default for cls in EVENT_CLASSES
)
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Annotated[Event, Field(discriminator="event_type")])


def _problems(exc: ValidationError) -> list[dict[str, str]]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        if loc and loc[0] in (*EVENT_TYPES, HEARTBEAT_TYPE):  # the union's tag, not a field
            loc = loc[1:]
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = ["event_type"]
        problems.append({"field": ".".join(str(p) for p in loc) or "(root)", "error": err["msg"]})
    return problems


def validate_event(data: object) -> Event:
    """Validate an already decoded JSON object against the contract.

    Raises:
        InvalidEventError: ``reason`` is one line naming each bad field; ``problems`` lists
            them as ``{"field": ..., "error": ...}``.
    """
    if not isinstance(data, dict):
        raise InvalidEventError(f"not a JSON object: got {type(data).__name__}")
    try:
        return EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        problems = _problems(exc)
        reason = "; ".join(f"{p['field']}: {p['error']}" for p in problems)
        raise InvalidEventError(f"invalid event: {reason}", problems) from None


def parse_event(raw: bytes | str) -> Event:
    """Decode and validate one event from JSON (see :func:`validate_event`; "not JSON"
    when it is not JSON, with the same words the worker dead-letters it with)."""
    return _parse(EVENT_ADAPTER, raw)


RECORD_ADAPTER: TypeAdapter[Event | StreamHeartbeat] = TypeAdapter(
    Annotated[Event | StreamHeartbeat, Field(discriminator="event_type")]
)


def parse_record(raw: bytes | str) -> Event | StreamHeartbeat:
    """Decode and validate one record of ``checkpoint-events``: an event or a heartbeat
    (the worker's ingest stage).

    Raises:
        InvalidEventError: as :func:`parse_event`.
    """
    return _parse(RECORD_ADAPTER, raw)


def _parse(adapter: TypeAdapter[Any], raw: bytes | str) -> Any:
    """Parse the bytes in one step with pydantic's own JSON parser (no intermediate Python
    objects; nesting depth and number sizes are bounded by the parser, never by Python's
    recursion or integer limits)."""
    try:
        return adapter.validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise InvalidEventError(f"not JSON: {first['msg']}") from None
        if (
            first["type"] in ("dict_type", "model_attributes_type", "model_type")
            and not first["loc"]
        ):
            raise InvalidEventError(f"not a JSON object: got {first['input']!r:.40}") from None
        problems = _problems(exc)
        reason = "; ".join(f"{p['field']}: {p['error']}" for p in problems)
        raise InvalidEventError(f"invalid event: {reason}", problems) from None


def event_to_json(event: Event) -> bytes:
    """Serialise an event for the wire (UTF-8 JSON, offsets kept as given)."""
    return event.model_dump_json().encode("utf-8")
