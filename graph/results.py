"""What the investigator queries return: the same models from Neo4j and from the embedded
store, so the CLI, the HTTP API and the tests treat both alike."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, computed_field

from graph.exceptions import QueryError
from schemas import CaseOutcome, Registry, Rule

MAX_ROWS = 1000  # the most rows any query returns in one page


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class Passage(_Result):
    shipment_id: str
    event_id: str
    occurred_at: AwareDatetime
    checkpoint_id: str
    locality: str
    direction: str
    observed_weight_kg: float | None = None
    retracted: bool = False


class AlertSummary(_Result):
    alert_id: str
    rule: str
    severity: int
    status: str
    raised_at: AwareDatetime
    explanation_vi: str
    explanation_en: str
    evidence_event_ids: list[str]


class AlertRecord(AlertSummary):
    """An alert as the task forces list it."""

    shipment_id: str
    localities: list[str]
    revision: int
    case_status: str = Field(
        default="new", description="new, acknowledged, transferred or closed (the latest step)"
    )
    assigned_to: str | None = Field(
        default=None, description="the locality the alert was last transferred to"
    )


class QueueEntry(_Result):
    """A shipment in a locality's risk queue for a day (graph/risk_queue.py)."""

    rank: int = Field(description="1 for the riskiest; shipments of the random floor last")
    shipment_id: str
    risk: float = Field(description="0 to 1, from the shipment's open alerts (docs/DETECTION.md)")
    sampled: bool = Field(description="in the queue by the random floor, with no alert")
    rules: list[str] = Field(description="of its open alerts, most severe first")
    alerts: list[AlertRecord]


class CaseStepRecord(_Result):
    """One step of a task force on an alert."""

    step_id: str
    action: str
    actor: str
    via: str
    at: AwareDatetime
    note: str = ""
    outcome: str | None = None
    to_locality: str | None = None
    from_locality: str | None = None


class EvidenceFact(_Result):
    """One fact behind an alert, as detection saw it, and whether the graph holds the
    event it came from."""

    event_id: str
    checkpoint_id: str
    occurred_at: AwareDatetime
    detail: str = ""
    detail_vi: str = ""
    distance_km: float | None = None
    late: bool = False
    shipment_id: str
    recorded: bool


class AlertDetail(AlertRecord):
    severity_factors: dict[str, int]
    evidence: list[EvidenceFact]
    case_outcome: str | None = None
    case_steps: list[CaseStepRecord] = Field(default_factory=list, description="oldest first")


class RuleOutcomes(_Result):
    """Closed cases of one rule: how many were confirmed, how many false alarms."""

    rule: str
    confirmed: int
    false_alarm: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def precision(self) -> float | None:
        """confirmed / (confirmed + false alarms); none before the first close."""
        closed = self.confirmed + self.false_alarm
        return None if closed == 0 else round(self.confirmed / closed, 3)


def rule_outcomes(counts: list[dict[str, Any]]) -> list[RuleOutcomes]:
    """Every rule's outcomes from (rule, outcome, alerts) rows."""
    by_rule = {rule.value: {o.value: 0 for o in CaseOutcome} for rule in Rule}
    for row in counts:
        if row["rule"] in by_rule and row["outcome"] in by_rule[row["rule"]]:
            by_rule[row["rule"]][row["outcome"]] += row["alerts"]
    return [RuleOutcomes(rule=rule, **outcomes) for rule, outcomes in by_rule.items()]


def alert_facts(props: dict[str, Any]) -> list[dict[str, Any]]:
    """The evidence stored on an alert (JSON text), each with the shipment it belongs to."""
    facts: list[dict[str, Any]] = json.loads(props.get("evidence") or "[]")
    for fact in facts:
        fact["shipment_id"] = fact.get("shipment_id") or props["shipment_id"]
    return facts


def alert_detail(
    props: dict[str, Any], recorded: set[str], steps: list[dict[str, Any]]
) -> AlertDetail:
    fields = {k: v for k, v in props.items() if k not in ("evidence", "severity_factors")}
    return AlertDetail(
        **fields,
        case_steps=[CaseStepRecord(**step) for step in steps],
        severity_factors=json.loads(props.get("severity_factors") or "{}"),
        evidence=[
            EvidenceFact(**fact, recorded=fact["event_id"] in recorded)
            for fact in alert_facts(props)
        ],
    )


class ShipmentTrace(_Result):
    shipment_id: str
    declared_at: AwareDatetime | None = None
    origin_country: str | None = None
    destination_locality: str | None = None
    categories: list[str] = Field(default_factory=list)
    declared_weight_kg: float | None = None
    passages: list[Passage]
    alerts: list[AlertSummary]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def localities(self) -> list[str]:
        """Localities in the order the shipment reached them (no repeats in a row)."""
        seen: list[str] = []
        for p in self.passages:
            if not p.retracted and (not seen or seen[-1] != p.locality):
                seen.append(p.locality)
        return seen

    def geojson(self, registry: Registry) -> dict[str, Any]:
        """The route as a GeoJSON FeatureCollection: a LineString through the passages that
        stand (retracted ones left out) and a Point per passage."""
        standing = [p for p in self.passages if not p.retracted]
        coords = [
            [registry.checkpoint(p.checkpoint_id).lon, registry.checkpoint(p.checkpoint_id).lat]
            for p in standing
        ]
        features: list[dict[str, Any]] = []
        if len(coords) >= 2:
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "LineString", "coordinates": coords},
                    "properties": {"shipment_id": self.shipment_id, "kind": "route"},
                }
            )
        for p, xy in zip(standing, coords, strict=True):
            cp = registry.checkpoint(p.checkpoint_id)
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": xy},
                    "properties": {
                        "kind": "passage",
                        "event_id": p.event_id,
                        "occurred_at": p.occurred_at.isoformat(),
                        "checkpoint_id": p.checkpoint_id,
                        "name": cp.name,
                        "locality": p.locality,
                        "observed_weight_kg": p.observed_weight_kg,
                    },
                }
            )
        return {"type": "FeatureCollection", "features": features}


class GraphDigest(_Result):
    """Nodes by label, relationships by type and a canonical SHA-256 of a part of the
    graph: equal digests mean the same facts, whichever store holds them."""

    nodes: dict[str, int]
    relationships: dict[str, int]
    sha256: str


class ShipmentEntities(_Result):
    """A declared shipment's parties, vehicle and driver, for the ring analytics."""

    shipment_id: str
    event_id: str  # its declaration
    entities: list[tuple[str, str]]  # (kind, id)
    seizures: int
    alerts: int  # open ones


class Flow(_Result):
    """Shipments (and their declared weight) that moved from one locality to the next."""

    from_locality: str
    to_locality: str
    category: str
    shipments: int
    weight_kg: float


class Hotspot(_Result):
    kind: Literal["checkpoint", "locality"]
    id: str
    alerts: int
    seizures: int

    @property
    def score(self) -> int:
        return self.alerts + self.seizures


EntityKind = Literal["party", "vehicle", "driver", "shipment"]


class GraphNode(_Result):
    kind: str  # party, vehicle, driver, shipment, seizure
    id: str
    hops: int = 0


class GraphLink(_Result):
    source: str  # "kind:id"
    target: str
    type: str
    event_id: str


class Neighbourhood(_Result):
    center: GraphNode
    nodes: list[GraphNode]
    links: list[GraphLink]
    truncated: bool = False


class ConnectionPath(_Result):
    nodes: list[GraphNode]
    links: list[GraphLink]


def check_window(since: Any, until: Any) -> None:
    if since is not None and until is not None and until <= since:
        raise QueryError(f"the window ends ({until}) before it starts ({since})")


def check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_ROWS:
        raise QueryError(f"limit must be between 1 and {MAX_ROWS}, not {limit}")
    if offset < 0:
        raise QueryError(f"offset must be 0 or more, not {offset}")
