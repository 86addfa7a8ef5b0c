"""What "the same alerts" means when two runs of the same traffic are compared (in-process
against the stack, one worker against three, before and after kills).

For every alert id, the latest revision says the same thing: status, rule, severity and
its factors, localities, evidence (event ids, details, late marks), texts. Revision
numbers are not compared: how many revisions led there depends on when each watermark
passed, as it does with Flink's early firings. For the same reason an alert one run raised
on an open leg and withdrew when the next scan came, and another never raised, end the
same: no open alert (docs/STREAMS.md). An alert that is open in one run must be in the
other, saying the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from schemas import Alert, AlertStatus


def latest(alerts: Iterable[Alert]) -> dict[str, Alert]:
    """The latest revision of every alert id."""
    out: dict[str, Alert] = {}
    for alert in alerts:
        known = out.get(alert.alert_id)
        if known is None or alert.revision >= known.revision:
            out[alert.alert_id] = alert
    return out


def said(alert: Alert) -> dict[str, Any]:
    return alert.model_dump(mode="json", exclude={"revision"})


def differences(expected: dict[str, Alert], got: dict[str, Alert]) -> dict[str, Any]:
    """Alert id -> (expected, got) for every alert the two runs do not end the same on."""
    diff: dict[str, Any] = {}
    for alert_id in sorted(set(expected) | set(got)):
        a, b = expected.get(alert_id), got.get(alert_id)
        if a is None or b is None:
            present = a or b
            assert present is not None
            if present.status != AlertStatus.WITHDRAWN:
                diff[alert_id] = (a and said(a), b and said(b))
        elif said(a) != said(b):
            diff[alert_id] = (said(a), said(b))
    return diff
