"""Subscriptions: stored durably, validated, and matched against alerts."""

import re
import sqlite3
import stat
from contextlib import closing
from datetime import datetime

import pytest

from schemas import VIETNAM_TZ, Alert, AlertStatus, Evidence, Rule, load_registry
from streams.delivery import Subscription, SubscriptionStore, matches
from streams.delivery.subscriptions import SubscriptionError

REG = load_registry()
WHEN = datetime(2026, 11, 25, 8, tzinfo=VIETNAM_TZ)


def _alert(severity=80, rule=Rule.ROUTE_DEVIATION, localities=("LS", "HN"), status="open"):
    evidence = [Evidence(event_id="E1", checkpoint_id="LS-HUUNGHI", occurred_at=WHEN)]
    return Alert(
        alert_id="ALR-1", revision=1, status=AlertStatus(status), rule=rule, severity=severity,
        severity_factors={"x": severity}, shipment_id="S", localities=list(localities),
        evidence=[] if status == "withdrawn" else evidence, explanation_vi="vi",
        explanation_en="en", raised_at=WHEN,
    )  # fmt: skip


def test_subscriptions_survive_and_the_file_is_private(tmp_path):
    path = tmp_path / "sub" / "subscriptions.db"
    store = SubscriptionStore(path, REG)
    a = store.add("Đội Lạng Sơn", "LS", "https://ls.example/hook", ["route_deviation"], 70)
    store.add("Đội Hà Nội", "HN", "http://127.0.0.1:9/hook")
    again = SubscriptionStore(path, REG).all()
    assert [s.locality for s in again] == ["HN", "LS"]
    assert again[1] == a and a.rules == [Rule.ROUTE_DEVIATION] and len(a.secret) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    store.remove(a.id)
    assert [s.locality for s in store.all()] == ["HN"]
    with pytest.raises(SubscriptionError, match=a.id):
        store.remove(a.id)


def test_a_file_made_before_queue_only_existed_keeps_its_subscriptions_and_gains_it(tmp_path):
    path = tmp_path / "subscriptions.db"
    with closing(sqlite3.connect(path)) as db, db:  # the first round's table, one row in it
        db.execute(
            "CREATE TABLE subscriptions (id TEXT PRIMARY KEY, name TEXT NOT NULL, "
            "locality TEXT NOT NULL, rules TEXT NOT NULL, min_severity INTEGER NOT NULL, "
            "webhook_url TEXT NOT NULL, secret TEXT NOT NULL, created_at TEXT NOT NULL)"
        )
        db.execute(
            "INSERT INTO subscriptions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ("SUB-old", "Đội cũ", "LS", "[]", 10, "http://old/", "s" * 64, WHEN.isoformat()),
        )
    store = SubscriptionStore(path, REG)
    (old,) = store.all()
    assert (old.id, old.min_severity, old.queue_only) == ("SUB-old", 10, False)
    new = store.add("Đội Lạng Sơn", "LS", "http://ls/", queue_only=True)
    assert {s.id: s.queue_only for s in SubscriptionStore(path, REG).all()} == {
        "SUB-old": False,
        new.id: True,
    }


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"locality": "XX"}, "unknown locality 'XX'"),
        ({"rules": ["teleport"]}, "teleport"),
        ({"webhook_url": "ftp://x/y"}, "not an http(s) URL"),
        ({"min_severity": 101}, "101"),
    ],
)
def test_bad_subscriptions_are_refused_with_what_is_wrong(tmp_path, kwargs, says):
    args = {"locality": "LS", "webhook_url": "https://x/y", **kwargs}
    with pytest.raises(SubscriptionError, match=re.escape(says)):
        SubscriptionStore(tmp_path / "s.db", REG).add("team", **args)
    assert SubscriptionStore(tmp_path / "s.db", REG).all() == []


def _sub(**kw):
    fields = {"id": "S", "name": "n", "locality": "LS", "min_severity": 70,
              "webhook_url": "https://x", "secret": "s", "created_at": WHEN, **kw}  # fmt: skip
    return Subscription(**fields)


def test_matching_by_locality_rule_and_severity():
    assert matches(_sub(), _alert())
    assert not matches(_sub(locality="QN"), _alert())
    assert not matches(_sub(), _alert(severity=69))
    assert matches(_sub(rules=[Rule.ROUTE_DEVIATION]), _alert())
    assert not matches(_sub(rules=[Rule.WEIGHT_CHANGE]), _alert())


def test_a_withdrawal_goes_where_its_alert_went_whatever_the_severity():
    assert matches(_sub(), _alert(severity=0, status="withdrawn"))
    assert not matches(_sub(locality="QN"), _alert(severity=0, status="withdrawn"))
