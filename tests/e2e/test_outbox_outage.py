"""The publisher never loses an event: with the broker down, 1,000 events are published,
the publisher process is killed, the broker comes back, `goodsflow outbox flush` runs, and
all 1,000 are in Kafka exactly once. Uses a private Kafka (own folder and ports) so that it
can be stopped without disturbing the shared stack."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from schemas import event_to_json
from streams.readers import TopicTail
from streams.topics import Topics
from tests.factories import declaration, free_port, scan

EVENTS = 1000


@pytest.fixture
def env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOODSFLOW_")}
    kafka_port = free_port()
    env.update(
        GOODSFLOW_STACK__DIR=str(tmp_path / "stack"),
        GOODSFLOW_STACK__KAFKA_PORT=str(kafka_port),
        GOODSFLOW_STACK__KAFKA_CONTROLLER_PORT=str(free_port()),
        GOODSFLOW_STACK__KAFKA_HEAP="384m",
        GOODSFLOW_OUTBOX__PATH=str(tmp_path / "outbox.db"),
        # long enough that the publisher is still trying when it is killed
        GOODSFLOW_OUTBOX__CONNECT_TIMEOUT_S="300",
    )
    yield env
    goodsflow(env, "stack", "down", "--only", "kafka")


def goodsflow(env, *args, check=True):
    result = subprocess.run(
        [sys.executable, "-m", "goodsflow", *args],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def _accepted(path) -> int:
    try:
        with sqlite3.connect(path) as db:
            return db.execute("SELECT count(*) FROM outbox").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_a_thousand_events_survive_broker_outage_and_publisher_kill(env, tmp_path):
    goodsflow(env, "stack", "up", "--only", "kafka")
    goodsflow(env, "topics", "create")
    goodsflow(env, "stack", "down", "--only", "kafka")

    events = []
    while len(events) < EVENTS:
        decl = declaration()
        events += [decl, *(scan(decl.shipment_id, "LS-HUUNGHI", i) for i in range(9))]
    events = events[:EVENTS]
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"".join(event_to_json(ev) + b"\n" for ev in events))

    publisher = subprocess.Popen(
        [sys.executable, "-m", "goodsflow", "publish", str(source)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    outbox = env["GOODSFLOW_OUTBOX__PATH"]
    deadline = time.monotonic() + 120
    while _accepted(outbox) < EVENTS and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _accepted(outbox) == EVENTS
    time.sleep(1.0)  # now it is trying to reach the stopped broker
    assert publisher.poll() is None, publisher.communicate()
    publisher.send_signal(signal.SIGKILL)
    publisher.wait()

    status = goodsflow(env, "outbox", "status")
    assert f"{EVENTS} pending, 0 sent" in status.stdout

    goodsflow(env, "stack", "up", "--only", "kafka")
    flushed = goodsflow(env, "outbox", "flush")
    assert f"sent {EVENTS}, pending 0" in flushed.stdout

    bootstrap = f"127.0.0.1:{env['GOODSFLOW_STACK__KAFKA_PORT']}"
    topic = Topics(env.get("GOODSFLOW_KAFKA__TOPIC_PREFIX", "")).checkpoint_events
    with TopicTail(bootstrap, topic, from_beginning=True) as tail:
        records = tail.collect(lambda rs: len(rs) >= EVENTS, timeout_s=60)
        time.sleep(1.0)
        records = tail.collect(lambda rs: False, timeout_s=1.0)  # anything extra?
    ids = [r.value for r in records]
    assert len(ids) == EVENTS  # none missing, none twice
    assert sorted(ids) == sorted(event_to_json(ev) for ev in events)
