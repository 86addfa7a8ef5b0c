"""The outbox forwarder against the real Kafka."""

from producers.checkpoint import CheckpointPublisher
from producers.forwarder import flush_outbox
from producers.outbox import SQLiteOutbox
from producers.publisher import CHECKPOINT_HEADER
from schemas import event_to_json
from streams.readers import TopicTail
from tests.factories import declaration, scan


def test_flush_sends_pending_events_once_keyed_and_in_order(settings, topics, tmp_path):
    pub = CheckpointPublisher(
        tmp_path / "o.db", settings.bootstrap_servers, settings.topics.checkpoint_events
    )
    decl = declaration()
    events = [decl, *(scan(decl.shipment_id, "LS-HUUNGHI", i) for i in range(5))]
    pub.publish(event_to_json(events[0]))  # raw JSON, as checkpoint software may hand it
    for ev in events[1:]:
        pub.publish(ev)
    key = decl.shipment_id.encode()
    with TopicTail(settings.bootstrap_servers, settings.topics.checkpoint_events) as tail:
        result = pub.flush()
        again = pub.flush()
        records = tail.collect(lambda rs: len([r for r in rs if r.key == key]) >= 6, 30)
    assert (result.sent, result.pending, result.error) == (6, 0, None)
    assert (again.sent, again.pending) == (0, 0)
    ours = [r for r in records if r.key == key]
    assert [r.value for r in ours] == [event_to_json(e) for e in events]
    assert dict(ours[0].headers)[CHECKPOINT_HEADER] == b"LS-HUUNGHI"
    pub.close()


def test_an_unreachable_broker_leaves_everything_pending_with_the_error(tmp_path):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with SQLiteOutbox(tmp_path / "o.db") as box:
        box.accept([declaration(), declaration()])
        result = flush_outbox(box, f"127.0.0.1:{port}", connect_timeout_s=2)
        assert (result.sent, result.pending) == (0, 2)
        assert result.error and str(port) in result.error
        assert box.status().pending == 2
