"""Neo4jGraphWriter's failures, against a fake driver that refuses chosen units: transient
errors become GraphUnavailable, refusals GraphRefused, and write_isolating finds exactly the
refused units of a batch in O(k log n) transactions and writes the rest."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pytest
from neo4j.exceptions import (
    AuthError,
    ClientError,
    CypherSyntaxError,
    DatabaseError,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)

from graph.exceptions import GraphRefused, GraphUnavailable
from graph.writer import UNSENDABLE, Neo4jGraphWriter, Refused, WriteReport, refusal
from schemas import VIETNAM_TZ, Alert, Evidence, Rule, alert_id_for
from tests.factories import ROUTE, case_step, declaration, scan

WHEN = datetime(2026, 11, 25, 8, tzinfo=VIETNAM_TZ)


def server_error(code: str, message: str = "refused") -> Neo4jError:
    """The error the driver raises for a server failure with this status code (the driver
    builds them this way from the server's FAILURE message, and picks the subclass)."""
    return Neo4jError._hydrate_neo4j(code=code, message=message)


ARGUMENT_ERROR = "Neo.ClientError.Statement.ArgumentError"


class FakeTransaction:
    def __init__(self, session: FakeSession) -> None:
        self.session = session
        self.ids: set[str] = set()

    def run(self, query: str, rows: list[dict[str, Any]]) -> FakeTransaction:
        driver = self.session.driver
        ids = {
            str(row.get("event_id") or row.get("step_id") or row.get("alert_id")) for row in rows
        }
        if ids & driver.unsendable:
            "\ud800".encode()  # what the driver's packer raises for a lone surrogate
        if poisoned := ids & driver.poisoned:
            raise driver.refusal_for(sorted(poisoned)[0])
        self.ids |= ids
        return self

    def consume(self) -> None:
        pass


class FakeSession:
    """Runs the transaction function once (a refusal is never retried by the driver) and
    commits what it wrote when it returns."""

    def __init__(self, driver: FakeDriver) -> None:
        self.driver = driver

    def __enter__(self) -> FakeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def execute_write(self, fn: Any, *args: Any) -> Any:
        self.driver.transactions += 1
        if self.driver.down is not None:
            raise self.driver.down
        tx = FakeTransaction(self)
        result = fn(tx, *args)
        self.driver.committed |= tx.ids
        return result


class FakeDriver:
    """Refuses any transaction holding a poisoned unit's rows, as Neo4j does: the whole
    transaction fails and nothing of it is kept."""

    def __init__(
        self,
        poisoned: Iterable[str] = (),
        unsendable: Iterable[str] = (),
        down: Exception | None = None,
        error: str = ARGUMENT_ERROR,
    ) -> None:
        self.poisoned, self.unsendable = set(poisoned), set(unsendable)
        self.down, self.error = down, error
        self.transactions = 0
        self.committed: set[str] = set()
        self.session_config: dict[str, Any] = {}

    def refusal_for(self, unit_id: str) -> Neo4jError:
        return server_error(self.error, f"cannot take {unit_id}")

    def session(self, **config: Any) -> FakeSession:
        self.session_config = config
        return FakeSession(self)


def _alert(n: int) -> Alert:
    sid = f"SHP-{n:03d}"
    return Alert(
        alert_id=alert_id_for(sid, Rule.ROUTE_DEVIATION), revision=1, rule=Rule.ROUTE_DEVIATION,
        severity=60, severity_factors={"x": 60}, shipment_id=sid, localities=["LS"],
        evidence=[Evidence(event_id=f"E{n}", checkpoint_id="LS-HUUNGHI", occurred_at=WHEN)],
        explanation_vi="vi", explanation_en="en", raised_at=WHEN,
    )  # fmt: skip


def _scans(n: int) -> list[Any]:
    return [scan("SHP-1", ROUTE[i % len(ROUTE)], i) for i in range(n)]


def _writer(driver: FakeDriver) -> Neo4jGraphWriter:
    return Neo4jGraphWriter(driver, "neo4j", max_transaction_retry_time=2.0)  # type: ignore[arg-type]


def test_a_clean_batch_is_one_transaction_with_the_short_retry_budget():
    driver = FakeDriver()
    events = _scans(50)
    report = _writer(driver).write_isolating(events)
    assert (report.written_rows, report.refused, report.transactions) == (50, (), 1)
    assert driver.transactions == 1
    assert driver.session_config == {"database": "neo4j", "max_transaction_retry_time": 2.0}
    assert driver.committed == {e.event_id for e in events}


def test_an_empty_batch_costs_no_transaction():
    driver = FakeDriver()
    assert _writer(driver).write_isolating() == WriteReport(0, (), 0)
    assert driver.transactions == 0


@pytest.mark.parametrize(("n", "poisoned_at"), [(64, [37]), (100, [0, 99]), (257, [3, 4, 200])])
def test_bisection_finds_exactly_the_poisoned_units_in_k_log_n_transactions(n, poisoned_at):
    events = _scans(n)
    poisoned = {events[i].event_id for i in poisoned_at}
    driver = FakeDriver(poisoned=poisoned)
    report = _writer(driver).write_isolating(events)

    assert [r.item for r in report.refused] == [events[i] for i in poisoned_at]
    assert {r.code for r in report.refused} == {ARGUMENT_ERROR}
    assert [r.message for r in report.refused] == [
        f"cannot take {events[i].event_id}" for i in poisoned_at
    ]
    assert driver.committed == {e.event_id for e in events} - poisoned
    assert report.written_rows == n - len(poisoned_at)
    # the whole batch, then at most two transactions per halving for each poisoned unit
    k = len(poisoned_at)
    assert report.transactions == driver.transactions <= 1 + 2 * k * math.ceil(math.log2(n))


def test_events_alerts_and_steps_are_each_a_unit():
    decl = declaration()
    alerts = [_alert(n) for n in range(4)]
    steps = [case_step(alerts[0], "acknowledge"), case_step(alerts[1], "acknowledge")]
    driver = FakeDriver(poisoned={decl.event_id, alerts[2].alert_id, steps[1].step_id})
    report = _writer(driver).write_isolating([decl, *_scans(5)], alerts, steps)
    assert [r.item for r in report.refused] == [decl, alerts[2], steps[1]]
    assert alerts[3].alert_id in driver.committed and steps[0].step_id in driver.committed


def test_a_value_the_driver_cannot_pack_is_refused_without_reaching_neo4j():
    events = _scans(8)
    driver = FakeDriver(unsendable={events[5].event_id})
    report = _writer(driver).write_isolating(events)
    assert [(r.item, r.code) for r in report.refused] == [(events[5], UNSENDABLE)]
    assert "UnicodeEncodeError" in report.refused[0].message
    assert "passages" in report.refused[0].message  # which statement could not be sent
    assert driver.committed == {e.event_id for i, e in enumerate(events) if i != 5}


def test_write_raises_the_refusal_and_writes_nothing():
    events = _scans(4)
    driver = FakeDriver(poisoned={events[2].event_id})
    with pytest.raises(GraphRefused) as caught:
        _writer(driver).write(events)
    assert caught.value.code == ARGUMENT_ERROR
    assert caught.value.message == f"cannot take {events[2].event_id}"
    assert driver.committed == set()


@pytest.mark.parametrize(
    "error",
    [
        ServiceUnavailable("Couldn't connect to 127.0.0.1:7687"),
        SessionExpired("the server went away"),
        server_error("Neo.TransientError.Transaction.DeadlockDetected"),
        server_error("Neo.TransientError.General.DatabaseUnavailable"),
        server_error("Neo.ClientError.Security.Unauthorized"),  # credentials, not rows
        server_error("Neo.ClientError.Database.DatabaseNotFound"),  # settings, not rows
        server_error("Neo.DatabaseError.Transaction.TransactionCommitFailed"),  # a full disk
        ConnectionResetError(104, "Connection reset by peer"),
    ],
    ids=lambda e: type(e).__name__ + ":" + (getattr(e, "code", "") or ""),
)
def test_transient_and_session_errors_are_graph_unavailable_and_refuse_nothing(error):
    driver = FakeDriver(down=error)
    writer = _writer(driver)
    with pytest.raises(GraphUnavailable):
        writer.write(_scans(3))
    with pytest.raises(GraphUnavailable):
        writer.write_isolating(_scans(3))
    assert driver.transactions == 2  # no bisection: nothing was refused


def test_neo4j_going_away_during_the_bisection_is_graph_unavailable():
    events = _scans(16)
    driver = FakeDriver(poisoned={events[3].event_id})
    writer = _writer(driver)
    original = driver.session

    def session(**config: Any) -> FakeSession:
        if driver.transactions == 2:  # after the whole batch and the first half failed
            driver.down = ServiceUnavailable("gone")
        return original(**config)

    driver.session = session  # type: ignore[method-assign]
    with pytest.raises(GraphUnavailable):
        writer.write_isolating(events)


@pytest.mark.parametrize(
    ("error", "refused"),
    [
        (server_error(ARGUMENT_ERROR), True),
        (server_error("Neo.ClientError.Statement.SyntaxError"), True),
        (server_error("Neo.ClientError.Schema.ConstraintValidationFailed"), True),
        (server_error("Neo.ClientError.Request.Invalid"), True),
        (server_error("Neo.DatabaseError.Statement.ExecutionFailed"), True),  # index key size
        (server_error("Neo.ClientError.Security.Unauthorized"), False),
        (server_error("Neo.ClientError.Security.AuthorizationExpired"), False),  # retryable
        (server_error("Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration"), False),
        (server_error("Neo.TransientError.Transaction.DeadlockDetected"), False),
        (server_error("Neo.DatabaseError.General.UnknownError"), False),
        (ServiceUnavailable("down"), False),
        (SessionExpired("expired"), False),
    ],
)
def test_which_errors_are_refusals(error, refused):
    assert (refusal(error) is not None) is refused


def test_the_driver_maps_the_codes_to_the_classes_the_brief_names():
    # the classification goes by code; these are the classes the driver raises for them
    assert isinstance(server_error("Neo.ClientError.Statement.SyntaxError"), CypherSyntaxError)
    assert isinstance(server_error(ARGUMENT_ERROR), ClientError)
    assert isinstance(server_error("Neo.ClientError.Security.Unauthorized"), AuthError)
    assert isinstance(server_error("Neo.DatabaseError.Statement.ExecutionFailed"), DatabaseError)
    assert isinstance(server_error("Neo.TransientError.General.Unknown"), TransientError)


def test_refused_keeps_the_unit_as_given():
    events = _scans(2)
    driver = FakeDriver(poisoned={events[0].event_id})
    (only,) = _writer(driver).write_isolating(events).refused
    assert only == Refused(events[0], ARGUMENT_ERROR, f"cannot take {events[0].event_id}")
