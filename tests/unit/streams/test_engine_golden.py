"""Detection's output on a fixed mix is pinned: every alert (in order, whole JSON) and
every final state (as stored). A change that alters what detection says, or what it
stores, fails here, so it is made deliberately: check the new output is what you meant,
then put the digests printed by the failure in place of the ones below.

The mix has every rule, events shuffled within the allowed lateness and a few beyond it,
repeated events, corrections (some corrected twice), second declarations and case steps.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import timedelta

from producers.simulation import SimulationConfig, Simulator
from schemas import (
    AlertStatus,
    CaseAction,
    CaseOutcome,
    CaseStep,
    CheckpointScanned,
    CorrectionReason,
    EventCorrected,
    Rule,
    ShipmentDeclared,
    StreamHeartbeat,
    load_registry,
    parse_record,
)
from streams import load_detection_config
from streams.handler import DetectionHandler, DictStore, ListSink
from streams.state import decode_state, encode_state
from tests.factories import CASE_T0

CONFIG = load_detection_config()
LATENESS = timedelta(minutes=CONFIG.event_time.allowed_lateness_minutes)

ALERTS_DIGEST = "14987fb03f9db512d469c9c015d3d44c6b80689fca4f19aaf9196d98d40fd119"
STATES_DIGEST = "35a10c6bb2262fea796fd2c65ab9b109fd05b953e8008e95e001cfd4e36b9840"


def _mix(seed: int = 7) -> list:
    sim = SimulationConfig(
        shipments=600, seed=seed, days=4, crackdown_days=2, seizure_share=0.3,
        heartbeat_minutes=30,
    )  # fmt: skip
    rng = random.Random(seed)
    out: list = []

    def put(at, record):
        out.append((at, len(out), record))

    for record in (parse_record(e.line.encode()) for e in Simulator(sim).events()):
        if isinstance(record, StreamHeartbeat):
            put(record.occurred_at, record)
            continue
        late = rng.random() < 0.01
        delay = LATENESS * (rng.uniform(1.5, 3) if late else rng.uniform(0, 0.95))
        put(record.occurred_at + delay, record)
        if rng.random() < 0.03:  # delivered again
            put(record.occurred_at + delay + timedelta(minutes=rng.uniform(1, 600)), record)
        scanned = isinstance(record, CheckpointScanned)
        if rng.random() < (
            0.05 if scanned else 0.04 if isinstance(record, ShipmentDeclared) else 0
        ):
            for k in range(2 if rng.random() < 0.2 else 1):
                at = record.occurred_at + timedelta(minutes=rng.uniform(5, 600))
                fix = EventCorrected(
                    event_id=f"COR-{len(out)}-{k}", occurred_at=at,
                    checkpoint_id=record.checkpoint_id, shipment_id=record.shipment_id,
                    corrected_event_id=record.event_id,
                    reason=rng.choice(list(CorrectionReason)),
                )  # fmt: skip
                put(at + LATENESS * rng.uniform(0, 0.9), fix)
        if isinstance(record, ShipmentDeclared) and rng.random() < 0.03:
            route = record.declared_route[:-1] if len(record.declared_route) > 2 else None
            again = record.model_copy(
                update={
                    "event_id": f"REDECL-{len(out)}",
                    "occurred_at": record.occurred_at + timedelta(minutes=rng.uniform(1, 300)),
                    "declared_route": route or record.declared_route,
                }
            )
            put(again.occurred_at, again)
    return [record for _, _, record in sorted(out, key=lambda x: (x[0], x[1]))]


def _run(records: list, roundtrip: bool = False) -> tuple[list[str], list[str]]:
    store, sink = DictStore(), ListSink()
    handler = DetectionHandler(store, sink, CONFIG, load_registry())
    said: list[str] = []
    steps: list[tuple[int, CaseStep]] = []
    for i, record in enumerate(records):
        if isinstance(record, StreamHeartbeat):
            handler.tick(record.occurred_at)
        else:
            handler.handle(record)
        for alert in sink.drain():
            said.append(alert.model_dump_json())
            digest = int(hashlib.sha256(alert.alert_id.encode()).hexdigest(), 16)
            if alert.revision == 1 and alert.status == AlertStatus.OPEN and digest % 5 == 0:
                close = digest % 3 != 0
                step = CaseStep(
                    step_id=f"CASE-{len(steps)}", alert_id=alert.alert_id,
                    shipment_id=alert.shipment_id, rule=alert.rule,
                    action=CaseAction.CLOSE if close else CaseAction.ACKNOWLEDGE,
                    outcome=(CaseOutcome.CONFIRMED if digest % 2 else CaseOutcome.FALSE_ALARM)
                    if close else None,
                    actor="Nguyễn Văn An", via="cli:test",
                    at=CASE_T0 + timedelta(minutes=len(steps)),
                )  # fmt: skip
                steps.append((i + 20 + digest % 100, step))
        for _, step in [s for s in steps if s[0] == i]:
            handler.handle_case(step)
        if roundtrip and i % 200 == 0:  # as if every state were read back from the topic
            for sid, state in store.states.items():
                store.states[sid] = decode_state(encode_state(state))
    states = [encode_state(store.states[sid]).decode() for sid in sorted(store.states)]
    return said, states


def _digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


RECORDS = _mix()


def test_the_alerts_and_states_of_a_fixed_mix_are_pinned():
    alerts, states = _run(RECORDS)
    assert {Rule(json.loads(a)["rule"]) for a in alerts} == set(Rule)
    assert any('"status":"withdrawn"' in a for a in alerts)
    assert any('"late":true' in a for a in alerts)
    assert (_digest(alerts), _digest(states)) == (ALERTS_DIGEST, STATES_DIGEST)


def test_every_evidence_of_every_rule_says_its_detail_in_vietnamese_too():
    alerts, _ = _run(RECORDS)
    seen = set()
    for line in alerts:
        alert = json.loads(line)
        for ev in alert["evidence"]:
            assert ev["detail"] and ev["detail_vi"], (alert["rule"], ev)
            assert ev["detail_vi"] != ev["detail"], (alert["rule"], ev)
        seen.add(alert["rule"])
    assert seen == {rule.value for rule in Rule}


def test_states_read_back_from_json_judge_the_same():
    assert _run(RECORDS[:4000], roundtrip=True) == _run(RECORDS[:4000])
