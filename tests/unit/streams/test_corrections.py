"""Corrections retract events without deleting them; alerts built on retracted evidence are
re-scored or withdrawn."""

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import AlertStatus, CorrectionReason, Rule, load_registry
from streams import load_detection_config, process
from tests.factories import ROUTE, correction, declaration, scan

REG = load_registry()


def run(events, state=None):
    alerts = []
    for ev in events:
        outcome = process(state, ev, load_detection_config(), REG)
        state = outcome.state
        alerts.extend(outcome.alerts)
    return state, alerts


def test_retracting_the_only_evidence_withdraws_the_alert():
    decl = declaration()
    off = scan(decl.shipment_id, "TN-THAINGUYEN", 100)
    state, alerts = run([decl, off])
    fix = correction(off, reason=CorrectionReason.INCORRECT_DATA)
    state, more = run([fix], state)
    assert len(more) == 1
    withdrawn = more[0]
    assert withdrawn.status == AlertStatus.WITHDRAWN
    assert withdrawn.alert_id == alerts[0].alert_id
    assert withdrawn.revision == 2
    assert withdrawn.severity == 0 and withdrawn.evidence == []
    assert withdrawn.withdrawn_by == [fix.event_id]
    assert withdrawn.localities == alerts[0].localities  # the same task forces hear of it
    assert withdrawn.raised_at == fix.occurred_at
    # history is kept: the retracted scan is still in the state, marked as retracted
    assert off.event_id in {s.event_id for s in state.scans}
    assert state.retracted[off.event_id].event_id == fix.event_id


def test_retracting_part_of_the_evidence_rescores_the_alert():
    decl = declaration()
    first = scan(decl.shipment_id, "TN-THAINGUYEN", 100)
    second = scan(decl.shipment_id, "NB-GIANKHAU", 300)
    state, alerts = run([decl, first, second])
    _, more = run([correction(second)], state)
    assert [a.status for a in more] == [AlertStatus.OPEN]
    assert [e.event_id for e in more[0].evidence] == [first.event_id]
    assert more[0].severity < alerts[-1].severity
    assert more[0].revision == alerts[-1].revision + 1


def test_a_corrective_scan_replaces_the_wrong_one():
    decl = declaration()
    wrong = scan(decl.shipment_id, "TN-THAINGUYEN", 100)
    right = scan(decl.shipment_id, ROUTE[2], 100)
    fix = correction(
        wrong, reason=CorrectionReason.INCORRECT_DATA, corrective_event_ids=[right.event_id]
    )
    _, alerts = run([decl, wrong, fix, right])
    assert [a.status for a in alerts] == [AlertStatus.OPEN, AlertStatus.WITHDRAWN]


def test_retracting_the_declaration_withdraws_its_alerts():
    decl = declaration()
    _, alerts = run([decl, scan(decl.shipment_id, "TN-THAINGUYEN"), correction(decl)])
    assert [a.status for a in alerts] == [AlertStatus.OPEN, AlertStatus.WITHDRAWN]


def test_a_correction_arriving_before_its_event_prevents_the_alert():
    decl = declaration()
    off = scan(decl.shipment_id, "TN-THAINGUYEN")
    _, alerts = run([correction(off), decl, off])
    assert alerts == []


def test_a_redelivered_correction_changes_nothing():
    decl = declaration()
    off = scan(decl.shipment_id, "TN-THAINGUYEN")
    fix = correction(off)
    state, _ = run([decl, off, fix])
    again = process(state, fix, load_detection_config(), REG)
    assert again.alerts == [] and again.state == state


def _events():
    decl = declaration(shipment_id="SHP-CORR", event_id="D")
    a = scan(decl.shipment_id, "TN-THAINGUYEN", 100, event_id="A")
    b = scan(decl.shipment_id, "NB-GIANKHAU", 200, event_id="B")
    c = scan(decl.shipment_id, ROUTE[1], 50, event_id="C")
    fix = correction(a, event_id="X")
    return [decl, a, b, c, fix]


@settings(max_examples=80, deadline=None)
@given(order=st.permutations(range(5)))
def test_final_verdict_with_corrections_does_not_depend_on_arrival_order(order):
    events = _events()
    _, alerts = run([events[i] for i in order])
    # A is retracted whenever it arrives; B stays: the last word is an open alert on B.
    final = [a for a in alerts if a.rule == Rule.ROUTE_DEVIATION][-1]
    assert final.status == AlertStatus.OPEN
    assert [e.event_id for e in final.evidence] == ["B"]
