"""The detection engine: ``state + event -> new state + alerts``. Pure.

No Kafka, Faust or Neo4j here (a unit test checks the imports): the Faust agent and the
embedded runner both call :func:`process` and differ only in where state is kept and where
alerts go. Time comes from the events, never from the clock, so a replay gives the same
alerts.

Order: rules judge the whole state, so a scan that arrives before its declaration is judged
when the declaration arrives, and the final alerts do not depend on arrival order. A
repeated event_id changes nothing. A correction retracts an event: alerts built on it are
re-scored on the evidence left, or withdrawn when none is left.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from schemas import Alert, AlertStatus, Event, Registry, Rule, alert_id_for
from streams.config import DetectionConfig
from streams.context import DetectionContext
from streams.rules import CONTEXT_RULES, RULES, Finding, RuleFn, View, open_leg_deadline
from streams.state import EmittedAlert, ShipmentState


@dataclass(frozen=True)
class Outcome:
    """The new state of a shipment and the alerts (new, updated or withdrawn) to send.

    ``judged`` is False when nothing was evaluated (a repeated event, a watermark that did
    not move); otherwise ``deadline`` is when the open leg becomes an unexplained stop
    (None: arrived, held, or nothing to wait for).
    """

    state: ShipmentState
    alerts: list[Alert] = field(default_factory=list)
    judged: bool = False
    deadline: datetime | None = None


def process(
    state: ShipmentState | None,
    event: Event,
    config: DetectionConfig,
    registry: Registry,
    watermark: datetime | None = None,
    context: DetectionContext | None = None,
) -> Outcome:
    """Apply one event to a shipment's state; return the new state and any alerts.

    An alert is returned when a rule's evidence changed: a new alert (revision 1), an update
    of the open one (same id, higher revision), or its withdrawal (status ``withdrawn``)
    when corrections retracted all of its evidence.

    Args:
        state: the shipment's state so far, or None for a shipment not seen before.
        event: a validated event of that shipment.
        config: rule thresholds.
        registry: checkpoints and localities, for distances and names.
        watermark: the partition's watermark (its latest event time minus the allowed
            lateness) including this event; an event older than it is recorded as late.
    """
    if state is None:
        new = ShipmentState(event.shipment_id)
    elif state.has_seen(event.event_id):
        return Outcome(state)
    else:
        new = state.copy()  # the one copy: recorded into and judged in place
    new.record(event)
    if watermark is not None:
        if new.watermark is None or watermark > new.watermark:
            new.watermark = watermark
        if event.occurred_at < watermark:
            new.late_event_ids = (*new.late_event_ids, event.event_id)
    return _judge(new, config, registry, context, _ALL_RULES)


def advance(
    state: ShipmentState,
    watermark: datetime,
    config: DetectionConfig,
    registry: Registry,
    context: DetectionContext | None = None,
) -> Outcome:
    """Judge a shipment again because its partition's watermark moved on (no new event)."""
    if state.watermark is not None and watermark <= state.watermark:
        return Outcome(state)
    new = state.copy()
    new.watermark = watermark
    return _judge(new, config, registry, context, _ALL_RULES)


def judge_context(
    state: ShipmentState, config: DetectionConfig, registry: Registry, context: DetectionContext
) -> Outcome:
    """Judge a shipment by the rules that read the context, now settled for its
    declaration (the others have judged it already and nothing of its own changed)."""
    return _judge(state.copy(), config, registry, context, _CONTEXT_RULES)


def waits_for_context(state: ShipmentState) -> datetime | None:
    """The declaration time the context must settle past before the rules that read it
    judge this shipment; None when they already have (or there is no declaration)."""
    decl = state.declaration
    if decl is None or state.context_judged_for == decl.event_id:
        return None
    return decl.occurred_at


# Each rule, in the order its alerts go out, with whether it reads the context and its
# place in that order.
_ALL_RULES = tuple(
    (rule, evaluate, rule in CONTEXT_RULES, i) for i, (rule, evaluate) in enumerate(RULES.items())
)
_CONTEXT_RULES = tuple(entry for entry in _ALL_RULES if entry[2])
RuleEntry = tuple[Rule, RuleFn, bool, int]

# Each shipment's alert ids, a rule's at its place: a judgement of a shipment with an alert
# asks for every rule's (a SHA-256 each), at every event and watermark step.
_ALERT_IDS: dict[str, tuple[str, ...]] = {}


def _alert_ids(shipment_id: str) -> tuple[str, ...]:
    found = _ALERT_IDS.get(shipment_id)
    if found is None:
        if len(_ALERT_IDS) >= 100_000:
            _ALERT_IDS.clear()
        found = _ALERT_IDS[shipment_id] = tuple(alert_id_for(shipment_id, r) for r in RULES)
    return found


def _judge(
    state: ShipmentState,
    config: DetectionConfig,
    registry: Registry,
    context: DetectionContext | None,
    rules: tuple[RuleEntry, ...],
) -> Outcome:
    """Judge ``state``, a copy only this call holds: its ``emitted`` and
    ``context_judged_for`` are updated in place."""
    view = View(state, config, registry, context)  # what several rules derive, computed once
    alerts: list[Alert] = []
    emitted = state.emitted
    changed: dict[str, EmittedAlert] | None = None  # a new dict once an alert goes out
    # The rules about other shipments' facts judge a declaration once, when the context has
    # settled for it: every earlier fact that was not late is in by then, and nothing the
    # shipment itself does later changes their answer.
    decl = view.decl
    settled = decl is None or (context is not None and context.settled(decl.occurred_at))
    context_due = settled and (decl is None or state.context_judged_for != decl.event_id)
    ids: tuple[str, ...] | None = None
    for rule, evaluate, reads_context, place in rules:
        if reads_context and not context_due:
            continue  # not yet (an earlier fact may still be on its way), or done already
        finding = evaluate(view)
        if finding is None and not emitted:
            continue  # nearly every judgement of nearly every rule
        if ids is None:
            ids = _alert_ids(state.shipment_id)
        alert_id = ids[place]
        last = emitted.get(alert_id)
        revision = 1 if last is None else last.revision + 1
        if finding is not None:
            alert = _alert(alert_id, revision, state, finding)
            fingerprint = _fingerprint(alert)
            if last is not None and not last.withdrawn and last.fingerprint == fingerprint:
                continue
            alerts.append(alert)
            update = EmittedAlert(
                revision=revision,
                evidence_ids=sorted(ev.event_id for ev in finding.evidence),
                localities=finding.localities,
                fingerprint=fingerprint,
            )
        elif last is not None and not last.withdrawn:
            alerts.append(_withdrawal(alert_id, revision, rule, state, last))
            update = EmittedAlert(
                revision, last.evidence_ids, last.fingerprint, last.localities, withdrawn=True
            )
        else:
            continue
        if changed is None:
            changed = dict(emitted)
        changed[alert_id] = update
    if changed is not None:
        state.emitted = changed
    if decl is not None and settled:
        state.context_judged_for = decl.event_id
    deadline = open_leg_deadline(view)
    state.derived = view.derived()
    return Outcome(state, alerts, judged=True, deadline=deadline)


def _fingerprint(alert: Alert) -> str:
    """A digest of everything an alert says but its revision: equal for equal alerts in
    any process (hashlib, not the salted hash())."""
    said = alert.model_dump_json(exclude={"revision"}).encode()
    return hashlib.blake2b(said, digest_size=12).hexdigest()


def _alert(alert_id: str, revision: int, state: ShipmentState, finding: Finding) -> Alert:
    late = set(state.late_event_ids)
    evidence = [
        ev.model_copy(update={"late": True}) if ev.event_id in late else ev
        for ev in finding.evidence
    ]
    return Alert(
        alert_id=alert_id,
        revision=revision,
        rule=finding.rule,
        severity=finding.severity,
        severity_factors=finding.severity_factors,
        shipment_id=state.shipment_id,
        localities=finding.localities,
        evidence=evidence,
        explanation_vi=finding.explanation_vi,
        explanation_en=finding.explanation_en,
        raised_at=max(ev.occurred_at for ev in finding.evidence),
    )


def _withdrawal(
    alert_id: str, revision: int, rule: Rule, state: ShipmentState, last: EmittedAlert
) -> Alert:
    retracted = state.retracted
    relevant = [*last.evidence_ids, *(d.event_id for d in state.declarations)]
    by_id = {retracted[eid].event_id: retracted[eid] for eid in relevant if eid in retracted}
    corrections = sorted(by_id.values(), key=lambda c: (c.occurred_at, c.event_id))
    ids = [c.event_id for c in corrections]
    when = corrections[-1].occurred_at if corrections else state.scans[-1].occurred_at
    return Alert(
        alert_id=alert_id,
        revision=revision,
        status=AlertStatus.WITHDRAWN,
        rule=rule,
        severity=0,
        severity_factors={},
        shipment_id=state.shipment_id,
        localities=last.localities,
        evidence=[],
        explanation_vi=(
            f"Rút lại cảnh báo đối với lô hàng {state.shipment_id}: bằng chứng đã được "
            f"đính chính ({', '.join(ids)})."
        ),
        explanation_en=(
            f"Alert on shipment {state.shipment_id} withdrawn: its evidence was corrected "
            f"({', '.join(ids)})."
        ),
        raised_at=when,
        withdrawn_by=ids,
    )
