"""Alerts: what the detection engine tells the localities' task forces.

An alert's id is derived from the shipment and the rule, so one shipment has at most one
open alert per rule: new evidence updates it (same id, higher ``revision``), and a
redelivered event never makes a second alert.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from functools import lru_cache
from typing import Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

VIETNAM_TZ = timezone(timedelta(hours=7), "ICT")


class Rule(StrEnum):
    """Detection rules; values are stable identifiers (streams/detection.toml has their
    thresholds)."""

    ROUTE_DEVIATION = "route_deviation"
    ENTRY_WITHOUT_BORDER_PASSAGE = "entry_without_border_passage"
    IMPOSSIBLE_TRAVEL = "impossible_travel"
    WEIGHT_CHANGE = "weight_change"
    CIRCULAR_ROUTING = "circular_routing"
    UNEXPLAINED_STOP = "unexplained_stop"
    VEHICLE_SWAP = "vehicle_swap"
    SEAL_TAMPERING = "seal_tampering"
    LINKED_TO_OFFENDER = "linked_to_offender"
    HIGH_RISK_CORRIDOR = "high_risk_corridor"


class AlertStatus(StrEnum):
    """What detection says of an alert. (The case workflow of task forces is separate.)"""

    OPEN = "open"
    WITHDRAWN = "withdrawn"  # its evidence was retracted by a correction


@lru_cache(maxsize=65_536)
def alert_id_for(shipment_id: str, rule: Rule) -> str:
    """Deterministic alert id: the same shipment and rule always give the same id."""
    digest = hashlib.sha256(f"{shipment_id}\x1f{rule.value}".encode()).hexdigest()
    return f"ALR-{digest[:20]}"


class Evidence(BaseModel):
    """One fact behind an alert, traceable to the event a checkpoint reported."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    checkpoint_id: str
    occurred_at: AwareDatetime
    detail: str = ""
    detail_vi: str = Field(default="", description="the detail in Vietnamese")
    distance_km: float | None = None
    late: bool = Field(
        default=False, description="arrived after the watermark had passed it (beyond lateness)"
    )
    shipment_id: str | None = Field(
        default=None, description="set when the fact is another shipment's (a seizure, say)"
    )


class Alert(BaseModel):
    """A suspicion about one shipment under one rule."""

    model_config = ConfigDict(frozen=True)

    alert_id: str
    revision: int = Field(ge=1, description="increases each time new evidence updates it")
    status: AlertStatus = AlertStatus.OPEN
    rule: Rule
    severity: int = Field(ge=0, le=100)
    severity_factors: dict[str, int]
    shipment_id: str
    localities: list[str] = Field(description="codes of every locality involved")
    evidence: list[Evidence] = Field(description="empty only when withdrawn")
    explanation_vi: str
    explanation_en: str
    raised_at: AwareDatetime = Field(
        description="event time of the latest evidence (of the correction, when withdrawn)"
    )
    withdrawn_by: list[str] = Field(
        default_factory=list, description="event ids of the corrections that withdrew it"
    )

    @model_validator(mode="after")
    def _open_alerts_have_evidence(self) -> Self:
        if self.status == AlertStatus.OPEN and not self.evidence:
            raise ValueError("an open alert needs evidence")
        return self

    @property
    def raised_at_vietnam(self) -> datetime:
        """``raised_at`` shown in Vietnam time (UTC+7)."""
        return self.raised_at.astimezone(VIETNAM_TZ)
