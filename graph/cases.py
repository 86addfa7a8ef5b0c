"""The case desk: where a task force's step on an alert is checked and sent on.

The API's ``POST /alerts/{id}/acknowledge|transfer|close`` and ``goodsflow alerts
ack|transfer|close`` both go through :meth:`CaseDesk.act`: it reads the alert and its case
from the graph (404 when unknown), refuses a step that does not fit the case
(:func:`schemas.check_step`: nothing after a close, no second acknowledgement, no transfer
to the locality that already has it), stamps who, through which credential and when (Vietnam
time), and publishes the step: to the ``alert-cases`` topic on the real stack, where the
worker feeds detection and then the graph; straight into the embedded pipeline in the
embedded mode. It then waits a little for the step to show in the graph and returns the
alert as it stands.

The check reads the graph, which follows the topic by the worker's batching (about a
second): two people acting on one alert within that second may both get through. Both
steps are kept, and the case shows the later one (schemas/cases.py).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from graph.exceptions import QueryError
from graph.results import AlertDetail
from schemas import (
    VIETNAM_TZ,
    Alert,
    AlertStatus,
    CaseAction,
    CaseOutcome,
    CaseState,
    CaseStatus,
    CaseStep,
    Evidence,
    Registry,
    Rule,
    check_step,
    new_step_id,
)


class AlertSource(Protocol):
    def alert(self, alert_id: str) -> AlertDetail: ...


class CaseReceipt(BaseModel):
    """A step sent, and the alert as the graph shows it (once the step landed)."""

    model_config = ConfigDict(frozen=True)

    step: CaseStep
    landed: bool
    alert: AlertDetail | None = None


def token_print(token: str) -> str:
    """How a bearer token is named in the case record: a short hash, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def case_state(alert: AlertDetail) -> CaseState:
    """The case of an alert as the graph shows it."""
    last = alert.case_steps[-1] if alert.case_steps else None
    return CaseState(
        status=CaseStatus(alert.case_status),
        outcome=CaseOutcome(alert.case_outcome) if alert.case_outcome else None,
        assigned_to=alert.assigned_to,
        last_step_id=last.step_id if last else None,
        last_at=last.at if last else None,
        last_actor=last.actor if last else None,
    )


def alert_as_sent(detail: AlertDetail) -> Alert:
    """The alert as detection sent it, rebuilt from the graph (for a handover)."""
    return Alert(
        alert_id=detail.alert_id,
        revision=detail.revision,
        status=AlertStatus(detail.status),
        rule=Rule(detail.rule),
        severity=detail.severity,
        severity_factors=detail.severity_factors,
        shipment_id=detail.shipment_id,
        localities=detail.localities,
        evidence=[
            Evidence(
                **fact.model_dump(exclude={"recorded", "shipment_id"}),
                shipment_id=None if fact.shipment_id == detail.shipment_id else fact.shipment_id,
            )
            for fact in detail.evidence
        ],
        explanation_vi=detail.explanation_vi,
        explanation_en=detail.explanation_en,
        raised_at=detail.raised_at,
    )


class CaseDesk:
    """Checks and publishes case steps.

    Args:
        alerts: where the alert and its case are read (the graph's queries).
        publish: sends a step on (Kafka, or the embedded pipeline); raises when it cannot.
        registry: the localities a transfer may go to.
        wait_s: how long :meth:`act` waits for the step to show in the graph.
    """

    def __init__(
        self,
        alerts: AlertSource,
        publish: Callable[[CaseStep], None],
        registry: Registry,
        wait_s: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(VIETNAM_TZ),
    ) -> None:
        self.alerts, self.publish, self.registry = alerts, publish, registry
        self.wait_s, self.clock = wait_s, clock

    def act(
        self,
        alert_id: str,
        action: CaseAction,
        *,
        actor: str,
        via: str,
        note: str = "",
        outcome: CaseOutcome | None = None,
        to_locality: str | None = None,
    ) -> CaseReceipt:
        """Check one step against the alert's case, publish it, and wait for it to land.

        Raises:
            NotFound: no such alert in the graph.
            QueryError: a bad field (an unknown locality, a transfer without a note, ...).
            CaseConflict: the step does not fit the case as it stands.
        """
        if to_locality is not None and to_locality not in self.registry.localities:
            known = ", ".join(self.registry.localities)
            raise QueryError(f"to_locality: unknown locality {to_locality!r} (one of {known})")
        alert = self.alerts.alert(alert_id)
        state = case_state(alert)
        transfer = action == CaseAction.TRANSFER
        check_step(state, action, to_locality, alert_id)
        try:
            step = CaseStep(
                step_id=new_step_id(),
                alert_id=alert.alert_id,
                shipment_id=alert.shipment_id,
                rule=Rule(alert.rule),
                action=action,
                actor=actor.strip(),
                via=via,
                at=self.clock(),
                note=note.strip(),
                outcome=outcome,
                to_locality=to_locality,
                from_locality=state.assigned_to if transfer else None,
                alert=alert_as_sent(alert) if transfer else None,
            )
        except ValidationError as exc:
            problems = "; ".join(
                (f"{'.'.join(map(str, e['loc']))}: " if e["loc"] else "") + e["msg"]
                for e in exc.errors(include_url=False)
            )
            raise QueryError(problems.replace("Value error, ", "")) from None
        self.publish(step)
        return self._landed(step)

    def _landed(self, step: CaseStep) -> CaseReceipt:
        deadline = time.monotonic() + self.wait_s
        while True:
            alert = self.alerts.alert(step.alert_id)
            if any(s.step_id == step.step_id for s in alert.case_steps):
                return CaseReceipt(step=step, landed=True, alert=alert)
            if time.monotonic() >= deadline:
                return CaseReceipt(step=step, landed=False)
            time.sleep(0.1)


def kafka_publisher(bootstrap_servers: str, topic: str) -> Callable[[CaseStep], None]:
    """Publish steps to ``topic`` (the ``alert-cases`` topic), keyed by shipment id, each
    acknowledged by the broker before returning (raises producers.exceptions.PublishError
    within about 10 s when Kafka cannot take it). Safe to call from the API's worker
    threads: one step at a time, so each caller's error is its own."""
    from producers.publisher import KafkaEventPublisher

    publisher: KafkaEventPublisher | None = None
    lock = threading.Lock()

    def publish(step: CaseStep) -> None:
        nonlocal publisher
        with lock:
            if publisher is None:  # connect at the first step, not when the API starts
                publisher = KafkaEventPublisher(
                    bootstrap_servers, topic=topic, timeout_s=10, connect_timeout_s=5
                )
            publisher.publish_raw(step.shipment_id.encode(), step.model_dump_json().encode())
            publisher.flush()

    return publish
