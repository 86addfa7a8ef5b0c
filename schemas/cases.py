"""The case workflow of the task forces: what they do with an alert, step by step.

A step is one of: acknowledge ("we have it"), transfer (hand it to another locality's task
force, with a note), close (with an outcome: the suspicion was confirmed, or it was a false
alarm). Each step records who, through which credential, and when; steps travel on the
``alert-cases`` topic keyed by shipment id, the graph keeps every one of them, and the
detection worker reads the outcomes (a confirmed alert is a recent incident for
``high_risk_corridor``; false alarms are counted per rule).

A case shows its latest step, ordered by ``(at, step_id)`` (:func:`case_after`), so the
graph reaches the same case whatever order the steps arrive in. Whether a step makes sense
(:func:`check_step`: nothing after a close; no second acknowledgement; no transfer to the
locality that already has it) is checked where steps are made, against the case as the
graph last showed it.

Example:
    >>> step = CaseStep(step_id="CASE-1", alert_id="ALR-1", shipment_id="SHP-1",
    ...     rule="route_deviation", action="close", outcome="confirmed", actor="Trần Thị B",
    ...     via="cli:tranb", at="2026-11-25T09:00:00+07:00")
    >>> case_after(CaseState(), step).status
    <CaseStatus.CLOSED: 'closed'>
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from schemas.alerts import Alert, Rule
from schemas.errors import GoodsflowError
from schemas.values import Identifier, LocalityCode


class CaseAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    TRANSFER = "transfer"
    CLOSE = "close"


class CaseOutcome(StrEnum):
    CONFIRMED = "confirmed"  # the suspicion held: an incident
    FALSE_ALARM = "false_alarm"


class CaseStatus(StrEnum):
    NEW = "new"  # no step yet
    ACKNOWLEDGED = "acknowledged"
    TRANSFERRED = "transferred"  # waiting for the receiving task force
    CLOSED = "closed"


STATUS_AFTER = {
    CaseAction.ACKNOWLEDGE: CaseStatus.ACKNOWLEDGED,
    CaseAction.TRANSFER: CaseStatus.TRANSFERRED,
    CaseAction.CLOSE: CaseStatus.CLOSED,
}


def new_step_id() -> str:
    return f"CASE-{uuid.uuid4().hex}"


class CaseStep(BaseModel):
    """One step of a task force on one alert."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    step_id: Identifier = Field(description="unique; a repeat is the same step")
    alert_id: Identifier
    shipment_id: Identifier = Field(description="the alert's shipment (the topic's key)")
    rule: Rule = Field(description="the alert's rule (outcomes are counted per rule)")
    action: CaseAction
    actor: str = Field(min_length=1, max_length=200, description="the person who acted")
    via: str = Field(
        min_length=1, max_length=200, description="how: 'cli:<user>' or 'api:<token print>'"
    )
    at: AwareDatetime = Field(description="when, with its UTC offset")
    note: str = Field(default="", max_length=2000)
    outcome: CaseOutcome | None = Field(default=None, description="with close only")
    to_locality: LocalityCode | None = Field(default=None, description="with transfer only")
    from_locality: LocalityCode | None = Field(
        default=None, description="with transfer: who had it (none: every involved locality)"
    )
    alert: Alert | None = Field(
        default=None,
        description="with transfer: the alert as it stood, delivered to the receiving "
        "locality's task force",
    )

    @model_validator(mode="after")
    def _fields_fit_the_action(self) -> Self:
        if self.action == CaseAction.CLOSE and self.outcome is None:
            raise ValueError("close needs an outcome (confirmed or false_alarm)")
        if self.action != CaseAction.CLOSE and self.outcome is not None:
            raise ValueError(f"{self.action.value} takes no outcome")
        if self.action == CaseAction.TRANSFER:
            if self.to_locality is None:
                raise ValueError("transfer needs to_locality")
            if not self.note.strip():
                raise ValueError("transfer needs a note for the receiving task force")
        elif self.to_locality is not None or self.from_locality is not None:
            raise ValueError(f"{self.action.value} takes no locality")
        if self.alert is not None and self.alert.alert_id != self.alert_id:
            raise ValueError(f"the alert carried is {self.alert.alert_id}, not {self.alert_id}")
        return self

    @property
    def order(self) -> tuple[datetime, str]:
        """Where the step stands among the alert's steps."""
        return (self.at, self.step_id)


class CaseState(BaseModel):
    """An alert's case: its latest step, and the locality it was last transferred to."""

    model_config = ConfigDict(frozen=True)

    status: CaseStatus = CaseStatus.NEW
    outcome: CaseOutcome | None = None
    assigned_to: str | None = Field(
        default=None, description="the locality it was last transferred to"
    )
    last_step_id: str | None = None
    last_at: AwareDatetime | None = None
    last_actor: str | None = None
    assigned_step_id: str | None = None
    assigned_at: AwareDatetime | None = None


def case_after(state: CaseState, step: CaseStep) -> CaseState:
    """The case once ``step`` is known too. Order-independent: the latest step by
    ``(at, step_id)`` gives the status (and the outcome, when it is a close); the latest
    transfer gives the locality."""
    changes: dict[str, object] = {}
    if state.last_at is None or step.order > (state.last_at, state.last_step_id or ""):
        changes |= {
            "status": STATUS_AFTER[step.action],
            "outcome": step.outcome,
            "last_step_id": step.step_id,
            "last_at": step.at,
            "last_actor": step.actor,
        }
    if step.action == CaseAction.TRANSFER and (
        state.assigned_at is None or step.order > (state.assigned_at, state.assigned_step_id or "")
    ):
        changes |= {
            "assigned_to": step.to_locality,
            "assigned_step_id": step.step_id,
            "assigned_at": step.at,
        }
    return state.model_copy(update=changes)


class CaseConflict(GoodsflowError):
    """A step that does not fit the case as it stands (closed already, say)."""


def check_step(
    state: CaseState, action: CaseAction, to_locality: str | None = None, alert_id: str = ""
) -> None:
    """Refuse a step that makes no sense on the case as it stands.

    Raises:
        CaseConflict: the case is closed; it is acknowledged already (and not transferred
            since); or it is already with ``to_locality``.
    """
    name = f"alert {alert_id}" if alert_id else "the alert"
    if state.status == CaseStatus.CLOSED:
        outcome = state.outcome.value if state.outcome else "closed"
        raise CaseConflict(
            f"{name} was closed ({outcome}) by {state.last_actor} at {state.last_at}; "
            "a closed case takes no further step"
        )
    if action == CaseAction.ACKNOWLEDGE and state.status == CaseStatus.ACKNOWLEDGED:
        raise CaseConflict(
            f"{name} was already acknowledged by {state.last_actor} at {state.last_at}"
        )
    if action == CaseAction.TRANSFER and to_locality and to_locality == state.assigned_to:
        raise CaseConflict(f"{name} is already with {to_locality}")
