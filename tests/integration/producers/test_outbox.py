"""SQLiteOutbox against a real SQLite file (no servers needed)."""

import sqlite3

from producers.outbox import SQLiteOutbox
from tests.factories import declaration, scan


def test_accepted_events_survive_reopening_in_order(tmp_path):
    path = tmp_path / "outbox.db"
    decl = declaration()
    events = [decl, *(scan(decl.shipment_id, "LS-HUUNGHI", i) for i in range(3))]
    with SQLiteOutbox(path) as box:
        assert box.accept(events) == 4
    with SQLiteOutbox(path) as box:  # as after a restart
        pending = box.pending()
        assert [p.event_id for p in pending] == [e.event_id for e in events]
        assert pending[0].payload.startswith(b"{") and pending[0].shipment_id == decl.shipment_id
        assert box.status().pending == 4


def test_an_event_id_is_accepted_once(tmp_path):
    with SQLiteOutbox(tmp_path / "o.db") as box:
        decl = declaration()
        assert box.accept([decl]) == 1
        assert box.accept([decl, decl]) == 0
        assert box.status().pending == 1


def test_sent_and_failed_are_recorded(tmp_path):
    with SQLiteOutbox(tmp_path / "o.db") as box:
        box.accept([declaration(), declaration()])
        first, second = box.pending()
        box.mark_sent([first.seq])
        box.mark_failed([second.seq], "broker down")
        st = box.status()
        assert (st.pending, st.sent, st.last_error) == (1, 1, "broker down")
        assert [p.seq for p in box.pending()] == [second.seq]


def test_the_file_is_in_wal_mode(tmp_path):
    path = tmp_path / "o.db"
    SQLiteOutbox(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
