"""The detection engine: ``state + event -> new state + alerts``. Pure.

No Kafka, Faust or Neo4j here (a unit test checks the imports): the Faust agent and the
embedded runner both call :func:`process` and differ only in where state is kept and where
alerts go. Time comes from the events, never from the clock, so a replay gives the same
alerts.

Order: a scan that arrives before its declaration is kept and judged when the declaration
arrives, so the final alerts do not depend on arrival order. A repeated event_id changes
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas import Alert, CheckpointScanned, Registry, ShipmentDeclared, alert_id_for
from streams.rules import RULES, DetectionConfig, Finding
from streams.state import EmittedAlert, ShipmentState


@dataclass(frozen=True)
class Outcome:
    """The new state of a shipment and the alerts (new or updated) to send."""

    state: ShipmentState
    alerts: list[Alert] = field(default_factory=list)


def process(
    state: ShipmentState | None,
    event: ShipmentDeclared | CheckpointScanned,
    config: DetectionConfig,
    registry: Registry,
) -> Outcome:
    """Apply one event to a shipment's state; return the new state and any alerts.

    An alert is returned when a rule's evidence changed: a new alert (revision 1), or an
    update of the open one, with the same id and a higher revision.

    Args:
        state: the shipment's state so far, or None for a shipment not seen before.
        event: a validated event of that shipment.
        config: rule thresholds.
        registry: checkpoints and localities, for distances and names.
    """
    if state is None:
        state = ShipmentState(shipment_id=event.shipment_id)
    if state.has_seen(event.event_id):
        return Outcome(state)
    state = state.with_event(event)

    alerts: list[Alert] = []
    emitted = dict(state.emitted)
    for rule in RULES:
        finding = rule(state, config, registry)
        if finding is None:
            continue
        alert_id = alert_id_for(state.shipment_id, finding.rule)
        evidence_ids = sorted(ev.event_id for ev in finding.evidence)
        last = emitted.get(alert_id)
        if last is not None and last.evidence_ids == evidence_ids:
            continue
        revision = 1 if last is None else last.revision + 1
        alerts.append(_alert(alert_id, revision, state.shipment_id, finding))
        emitted[alert_id] = EmittedAlert(revision=revision, evidence_ids=evidence_ids)
    return Outcome(state.model_copy(update={"emitted": emitted}), alerts)


def _alert(alert_id: str, revision: int, shipment_id: str, finding: Finding) -> Alert:
    return Alert(
        alert_id=alert_id,
        revision=revision,
        rule=finding.rule,
        severity=finding.severity,
        severity_factors=finding.severity_factors,
        shipment_id=shipment_id,
        localities=finding.localities,
        evidence=finding.evidence,
        explanation_vi=finding.explanation_vi,
        explanation_en=finding.explanation_en,
        raised_at=max(ev.occurred_at for ev in finding.evidence),
    )
