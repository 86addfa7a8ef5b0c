"""`goodsflow import-epcis` against the real Kafka: mapped events arrive, rejects are
written with reasons, re-importing changes nothing, a malformed document imports nothing."""

from __future__ import annotations

import json
from pathlib import Path

from schemas import parse_event
from streams.readers import TopicTail
from tests.e2e.cli import goodsflow as run

DOC = Path(__file__).parents[1] / "data" / "epcis" / "border-crossing.jsonld"


def goodsflow(tmp_path, *args):
    return run(*args, env={"GOODSFLOW_OUTBOX__PATH": str(tmp_path / "outbox.db")})


def test_import_sends_mapped_events_once_and_rejects_the_rest(settings, topics, tmp_path):
    rejects = tmp_path / "rejects.jsonl"
    with TopicTail(settings.bootstrap_servers, settings.topics.checkpoint_events) as tail:
        first = goodsflow(tmp_path, "import-epcis", str(DOC), "--rejects", str(rejects))
        tail.collect(lambda rs: len([r for r in rs if b'"epcis:' in r.value]) >= 7, timeout_s=30)
        again = goodsflow(tmp_path, "import-epcis", str(DOC), "--rejects", str(rejects))
        late = tail.collect(lambda rs: False, timeout_s=2)
    assert first.returncode == 1, first.stderr  # some events were rejected
    assert "mapped 7 events" in first.stdout
    assert "sent 7, rejected 3, queued 0 (7 new events" in first.stdout
    ours = [parse_event(r.value) for r in late if b'"epcis:' in r.value]
    assert len(ours) == 7  # the second import sent nothing
    assert {e.event_type for e in ours} == {
        "checkpoint.scanned", "inspection.recorded", "cargo.transferred", "event.corrected",
    }  # fmt: skip
    assert "sent 0, rejected 3, queued 0 (0 new events" in again.stdout
    lines = [json.loads(x) for x in rejects.read_text(encoding="utf-8").splitlines()]
    assert [r["index"] for r in lines] == [5, 6, 8]
    assert all(r["reason"] and r["event"]["type"] for r in lines)
    assert "Traceback" not in first.stderr


def test_a_malformed_document_imports_nothing(tmp_path):
    doc = tmp_path / "broken.json"
    doc.write_text(
        '{"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": "x"}}'
    )
    result = goodsflow(tmp_path, "import-epcis", str(doc))
    assert result.returncode == 1
    assert "error: the eventList is missing or not a list" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "outbox.db").exists()
