"""A worker started while Kafka or Neo4j is briefly away waits for it; other errors (a
topic with the wrong partition count) stop it at once."""

import pytest

from streams import worker
from streams.topics import KafkaUnreachable, TopicError


def test_it_waits_for_a_server_that_comes_back(monkeypatch):
    monkeypatch.setattr(worker.time, "sleep", lambda _: None)
    calls = []

    def attempt():
        calls.append(1)
        if len(calls) < 3:
            raise KafkaUnreachable("cannot reach Kafka")

    worker.wait_for("Kafka", attempt, KafkaUnreachable)
    assert len(calls) == 3


def test_it_gives_up_after_the_wait_and_stops_at_once_on_other_errors(monkeypatch):
    monkeypatch.setattr(worker.time, "sleep", lambda _: None)
    monkeypatch.setattr(worker, "STARTUP_WAIT_S", 0.0)
    with pytest.raises(KafkaUnreachable):
        worker.wait_for(
            "Kafka", lambda: (_ for _ in ()).throw(KafkaUnreachable("x")), KafkaUnreachable
        )
    calls = []

    def wrong():
        calls.append(1)
        raise TopicError("topic checkpoint-events has 3 partitions, goodsflow needs 6")

    monkeypatch.setattr(worker, "STARTUP_WAIT_S", 100.0)
    with pytest.raises(TopicError, match="3 partitions"):
        worker.wait_for("Kafka", wrong, KafkaUnreachable)
    assert calls == [1]
