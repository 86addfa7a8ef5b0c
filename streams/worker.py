"""The worker's bootstrap: build adapters from settings, wire them, start Faust's worker.

Run it with ``goodsflow worker`` (one process; start more with the same settings, on
other metrics ports, to share the partitions through Kafka's consumer groups).
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Callable

from goodsflow.bootstrap import neo4j_driver
from goodsflow.settings import Settings
from graph.exceptions import GraphUnavailable
from graph.writer import Neo4jGraphWriter
from schemas import load_registry
from streams.config import load_detection_config
from streams.topics import KafkaUnreachable, ensure_topics

log = logging.getLogger(__name__)

# A worker (re)started while Kafka or Neo4j is briefly away (a restart, a failover) waits
# this long for it before giving up with the error.
STARTUP_WAIT_S = 120.0


def wait_for(what: str, attempt: Callable[[], object], error: type[Exception]) -> None:
    """Run ``attempt`` until it stops raising ``error`` or STARTUP_WAIT_S has passed."""
    deadline = time.monotonic() + STARTUP_WAIT_S
    delay = 1.0
    while True:
        try:
            attempt()
            return
        except error as exc:
            if time.monotonic() + delay > deadline:
                raise
            print(f"waiting for {what} ({exc}); trying again in {delay:.0f} s", file=sys.stderr)
            time.sleep(delay)
            delay = min(delay * 2, 15.0)


def run_worker(settings: Settings) -> None:
    """Create topics and graph schema if needed, then run the worker until stopped."""
    import faust

    from streams.app import Dependencies, app, configure

    # The worker keeps a large, long-lived heap (states, the detection context) and makes
    # few reference cycles (about 0.3% of what the collector walks is garbage). With a
    # young generation of 50,000 objects it ran 150 collections in a 133,536-event run of
    # bench/e2e.py, 2.5 s of the worker's 23 s of CPU; with 500,000, three, 1.0 s (gc
    # callbacks). DetectStage freezes what a restore read, so no collection walks it.
    gc.set_threshold(500_000, 20, 100)
    # The Neo4j driver runs each graph write in a thread, one Bolt round trip after another;
    # after each it waits for the GIL, which the busy event loop hands over only every
    # switch interval (5 ms by default): a few round trips a batch made Neo4j, the slowest
    # step, wait tens of milliseconds for nothing (bench/e2e.py).
    sys.setswitchinterval(0.001)
    registry = load_registry()
    topics = settings.topics
    wait_for("Kafka", lambda: ensure_topics(settings.bootstrap_servers, topics), KafkaUnreachable)
    driver = neo4j_driver(settings)
    writer = Neo4jGraphWriter(driver, settings.neo4j.database)
    wait_for("Neo4j", lambda: writer.init_schema(registry), GraphUnavailable)
    configure(
        Dependencies(
            bootstrap_servers=settings.bootstrap_servers,
            topics=topics,
            registry=registry,
            detection=load_detection_config(settings.detection.config),
            graph=writer,
            batch_size=settings.worker.batch_size,
            session_timeout_s=settings.worker.session_timeout_s,
            metrics_host=settings.worker.metrics_host,
            metrics_port=settings.worker.metrics_port,
        )
    )
    try:
        faust.Worker(app, loglevel=settings.worker.log_level).execute_from_commandline()
    finally:
        driver.close()
