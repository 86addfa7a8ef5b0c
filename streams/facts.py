"""Facts about one shipment that rules judging *other* shipments read: who travelled on a
declaration, who and what a seizure implicated, how a task force closed an alert. Pure.

The worker's ingest stage takes them from the events it reads and writes them to the
``goodsflow-detection-facts`` topic, which every worker reads whole into its
:class:`streams.context.DetectionContext`; in-process runs hand them to the context
directly. A fact's key is stable (the event id, or the alert id for a case), so a
repeated fact changes nothing and a compacted topic keeps the latest.

Example:
    >>> key, value = encode_fact(fact)  # doctest: +SKIP
    >>> decode_fact(value) == fact  # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas import Event, SeizureRecorded, ShipmentDeclared
from schemas.values import plate_key

Entity = tuple[str, str]  # ("party" | "vehicle" | "driver", identifier)


@dataclass(frozen=True)
class DeclarationFact:
    """A declaration: these parties, this vehicle and this driver travelled together."""

    shipment_id: str
    event_id: str
    occurred_at: datetime
    checkpoint_id: str
    entities: tuple[Entity, ...]

    @property
    def key(self) -> str:
        return self.event_id


@dataclass(frozen=True)
class SeizureFact:
    """A seizure: the parties, vehicle and driver it implicated, and where it happened."""

    shipment_id: str
    event_id: str
    seizure_id: str
    occurred_at: datetime
    checkpoint_id: str
    implicated: tuple[Entity, ...]

    @property
    def key(self) -> str:
        return self.event_id


@dataclass(frozen=True)
class CaseFact:
    """How a task force last closed an alert (``outcome`` None: reopened or not closed),
    with the alert's own facts (event id, checkpoint, event time) for corridor incidents.
    A case is the task forces' word in wall-clock time: it carries no event time."""

    alert_id: str
    rule: str
    shipment_id: str
    outcome: str | None
    facts: tuple[tuple[str, str, datetime], ...]

    @property
    def key(self) -> str:
        return f"case:{self.alert_id}"


Fact = DeclarationFact | SeizureFact | CaseFact


def entity(kind: str, value: str) -> Entity:
    """An entity as links compare it (docs/CONTRACT.md): a plate by ``plate_key`` (upper
    case; no spaces, dashes, dots), a party or driver id in upper case."""
    return (kind, plate_key(value) if kind == "vehicle" else value.upper())


def normalized(entities: tuple[Entity, ...]) -> tuple[Entity, ...]:
    """``entities`` as links compare them, each once (facts and states written before ids
    were compared so read the same as new ones)."""
    return _unique([entity(kind, value) for kind, value in entities])


def entities_of_declaration(event: ShipmentDeclared) -> tuple[Entity, ...]:
    """The parties, vehicle and driver of a declaration, each once, in a fixed order."""
    return _unique(
        [
            entity("party", event.shipper.party_id),
            entity("party", event.consignee.party_id),
            entity("vehicle", event.vehicle_plate),
            entity("driver", event.driver_id),
        ]
    )


def implicated_by(event: SeizureRecorded) -> tuple[Entity, ...]:
    implicated = [entity("party", p.party_id) for p in event.parties_implicated]
    if event.vehicle_plate:
        implicated.append(entity("vehicle", event.vehicle_plate))
    if event.driver_id:
        implicated.append(entity("driver", event.driver_id))
    return _unique(implicated)


def facts_of_event(event: Event) -> Iterator[Fact]:
    """The facts an event gives other shipments' rules (none for most events)."""
    if isinstance(event, ShipmentDeclared):
        yield DeclarationFact(
            event.shipment_id,
            event.event_id,
            event.occurred_at,
            event.checkpoint_id,
            entities_of_declaration(event),
        )
    elif isinstance(event, SeizureRecorded):
        yield SeizureFact(
            event.shipment_id,
            event.event_id,
            event.seizure_id,
            event.occurred_at,
            event.checkpoint_id,
            implicated_by(event),
        )


def _unique(pairs: list[tuple[str, str]]) -> tuple[Entity, ...]:
    return tuple(dict.fromkeys(pairs))


# -- wire format (JSON) ----------------------------------------------------------------


def encode_fact(fact: Fact) -> tuple[bytes, bytes]:
    """(key, value) of a fact for the facts topic."""
    data: dict[str, Any]
    if isinstance(fact, DeclarationFact):
        data = {
            "kind": "declaration",
            "shipment_id": fact.shipment_id,
            "event_id": fact.event_id,
            "occurred_at": fact.occurred_at.isoformat(),
            "checkpoint_id": fact.checkpoint_id,
            "entities": [list(e) for e in fact.entities],
        }
    elif isinstance(fact, SeizureFact):
        data = {
            "kind": "seizure",
            "shipment_id": fact.shipment_id,
            "event_id": fact.event_id,
            "seizure_id": fact.seizure_id,
            "occurred_at": fact.occurred_at.isoformat(),
            "checkpoint_id": fact.checkpoint_id,
            "implicated": [list(e) for e in fact.implicated],
        }
    else:
        data = {
            "kind": "case",
            "alert_id": fact.alert_id,
            "rule": fact.rule,
            "shipment_id": fact.shipment_id,
            "outcome": fact.outcome,
            "facts": [[eid, cp, at.isoformat()] for eid, cp, at in fact.facts],
        }
    return fact.key.encode(), json.dumps(data, ensure_ascii=False).encode()


def decode_fact(value: bytes) -> Fact:
    """A fact from its JSON; raises ValueError (or KeyError/TypeError) on anything else."""
    data = json.loads(value)
    kind = data["kind"]
    if kind == "declaration":
        return DeclarationFact(
            data["shipment_id"],
            data["event_id"],
            datetime.fromisoformat(data["occurred_at"]),
            data["checkpoint_id"],
            tuple((k, v) for k, v in data["entities"]),
        )
    if kind == "seizure":
        return SeizureFact(
            data["shipment_id"],
            data["event_id"],
            data["seizure_id"],
            datetime.fromisoformat(data["occurred_at"]),
            data["checkpoint_id"],
            tuple((k, v) for k, v in data["implicated"]),
        )
    if kind == "case":
        return CaseFact(
            data["alert_id"],
            data["rule"],
            data["shipment_id"],
            data["outcome"],
            tuple((e, c, datetime.fromisoformat(t)) for e, c, t in data["facts"]),
        )
    raise ValueError(f"unknown fact kind {kind!r}")
