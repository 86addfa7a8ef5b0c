"""Fixtures shared by the integration and end-to-end tests: settings, the real stack's
clients, and a real Faust worker process. Nothing here is mocked.

These tests need the local stack (`goodsflow stack up`, which `./dev test` does). When it
is not reachable they fail with that message; they never skip.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from goodsflow.settings import Settings, load_settings
from schemas import VIETNAM_TZ
from stack.launcher import port_answers
from tests import factories

ROOT = Path(__file__).resolve().parents[1]


# Every test session gets topics and consumer groups of its own (GOODSFLOW_KAFKA__TOPIC_PREFIX,
# inherited by every process a test starts): a run against a stack kept from an earlier run
# starts from empty topics, with the worker's clocks (its watermarks) at nothing.
os.environ["GOODSFLOW_KAFKA__TOPIC_PREFIX"] = f"t{random.SystemRandom().getrandbits(40):010x}."

_WINDOWS = itertools.count()
# The worker accepts only event times it can believe (streams/event_time.py): years 2000 to
# 2099, and no more than 24 h ahead of when the broker received them. Each session starts
# its windows at its own place between about 2009 and 2023 (so the graph around a run's
# windows, which Neo4j keeps across runs, is rarely another run's), and each test that uses
# the stack gets 10 days after the previous one's.
_STACK_FIXTURES = {"settings", "worker", "neo4j_driver", "topics"}
_FIRST_WINDOW = datetime.now(VIETNAM_TZ).replace(
    hour=8, minute=0, second=0, microsecond=0
) - timedelta(days=1500 + random.SystemRandom().randrange(5000))
_UNIT_T0 = factories.T0


@pytest.fixture(autouse=True)
def event_time_window(request, monkeypatch) -> datetime:
    """Each test that uses the stack has its events happen in a window of event time of
    its own, later than every earlier test's: the worker's watermarks only move forward, so
    no test's events look late to it because of another test, and a test's shipments are
    not judged by another test's clock. Tests without the stack keep the factories' T0."""
    if _STACK_FIXTURES.isdisjoint(request.fixturenames):
        start = _UNIT_T0
    else:
        start = _FIRST_WINDOW + timedelta(days=10 * next(_WINDOWS))
    monkeypatch.setattr(factories, "T0", start)
    return start


@pytest.fixture(scope="session")
def settings() -> Settings:
    s = load_settings()
    for name, address in (("Kafka", s.bootstrap_servers), ("Neo4j", s.neo4j_uri)):
        host, port = address.rsplit("/", 1)[-1].rsplit(":", 1)
        if not port_answers(int(port), host):
            pytest.fail(
                f"{name} is not reachable at {address}: start the stack with "
                f"`goodsflow stack up` (./dev test does this for you)",
                pytrace=False,
            )
    return s


@pytest.fixture(scope="session")
def neo4j_driver(settings):
    from goodsflow.bootstrap import neo4j_driver as make_driver

    with make_driver(settings) as driver:
        yield driver


@pytest.fixture(scope="session")
def topics(settings) -> None:
    from streams.topics import ensure_topics

    ensure_topics(settings.bootstrap_servers, settings.topics)


class WorkerProcess:
    """`goodsflow worker` as its own OS process, as it runs in production."""

    def __init__(self, log_path: Path, **env: str) -> None:
        self.log_path = log_path
        self.env = {**os.environ, **env}
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_url = ""

    def start(self, timeout_s: float = 120.0) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "goodsflow", "worker"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
                env=self.env,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited at start:\n{self.log_tail(offset)}")
            if "[^Worker]: Ready" in self.log_tail(offset, lines=10_000):
                return
            time.sleep(0.3)
        raise RuntimeError(f"worker not ready in {timeout_s} s:\n{self.log_tail(offset)}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 60.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, offset: int = 0, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="session")
def worker(settings, topics, tmp_path_factory) -> Iterator[WorkerProcess]:
    # A short session timeout: after a killed worker, a new one takes over in seconds.
    port = factories.free_port()
    proc = WorkerProcess(
        tmp_path_factory.mktemp("worker") / "worker.log",
        GOODSFLOW_WORKER__SESSION_TIMEOUT_S="10",
        GOODSFLOW_WORKER__METRICS_PORT=str(port),
    )
    proc.metrics_url = f"http://127.0.0.1:{port}/metrics"
    proc.start()
    yield proc
    proc.stop()
