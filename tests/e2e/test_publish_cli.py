"""`goodsflow publish FILE` as a checkpoint operator runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from schemas import event_to_json, parse_event
from streams.readers import TopicTail
from tests.factories import declaration, scan


def test_publish_sends_valid_lines_and_names_each_rejected_one(settings, topics, tmp_path):
    decl = declaration()
    good = scan(decl.shipment_id, "LS-HUUNGHI")
    bad = json.loads(event_to_json(scan(decl.shipment_id, "LS-HUUNGHI")))
    bad["occurred_at"] = "2026-11-25T08:00:00"  # naive: rejected
    path = tmp_path / "events.jsonl"
    lines = [event_to_json(decl).decode(), json.dumps(bad), "", event_to_json(good).decode()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with TopicTail(settings.bootstrap_servers, settings.topics.checkpoint_events) as tail:
        result = subprocess.run(
            [sys.executable, "-m", "goodsflow", "publish", str(path)],
            capture_output=True,
            text=True,
            env={**os.environ, "GOODSFLOW_OUTBOX__PATH": str(tmp_path / "outbox.db")},
            timeout=120,
        )
        key = decl.shipment_id.encode()
        records = tail.collect(lambda rs: len([r for r in rs if r.key == key]) >= 2, 30)

    assert result.returncode == 1
    assert "sent 2, rejected 1, queued 0" in result.stdout
    (reject,) = [
        json.loads(line)
        for line in (tmp_path / "events.jsonl.rejects.jsonl").read_text("utf-8").splitlines()
    ]
    assert reject["line"] == 2
    assert reject["problems"] == [
        {"field": "occurred_at", "error": "Input should have timezone info"}
    ]
    assert json.loads(reject["raw"])["event_id"] == bad["event_id"]
    assert f"{path}:2: rejected: invalid event: occurred_at: Input should have timezone info" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    sent = [parse_event(r.value) for r in records if r.key == key]
    assert [ev.event_id for ev in sent] == [decl.event_id, good.event_id]
