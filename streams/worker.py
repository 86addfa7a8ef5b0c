"""The Faust worker's bootstrap: build adapters from settings, wire them, start Faust.

Run it with ``goodsflow worker`` (one process; start more with the same settings to share
the partitions through Kafka's consumer group).
"""

from __future__ import annotations

import logging

from goodsflow.bootstrap import neo4j_driver
from goodsflow.settings import Settings
from graph.writer import Neo4jGraphWriter
from schemas import load_registry
from streams.config import load_detection_config
from streams.topics import ensure_topics

log = logging.getLogger(__name__)


def run_worker(settings: Settings) -> None:
    """Create topics and graph schema if needed, then run the Faust worker until stopped."""
    import faust

    from streams import agents
    from streams.app import app, configure

    registry = load_registry()
    ensure_topics(settings.bootstrap_servers)
    driver = neo4j_driver(settings)
    writer = Neo4jGraphWriter(driver, settings.neo4j.database)
    writer.init_schema(registry)
    agents.wire(
        agents.Dependencies(
            registry=registry,
            detection=load_detection_config(settings.detection.config),
            graph=writer,
            graph_batch_size=settings.worker.graph_batch_size,
            graph_batch_timeout_s=settings.worker.graph_batch_timeout_s,
        )
    )
    timeout = settings.worker.session_timeout_s
    configure(
        settings.bootstrap_servers,
        broker_session_timeout=timeout,
        broker_heartbeat_interval=min(3.0, timeout / 3),
    )
    try:
        faust.Worker(app, loglevel=settings.worker.log_level).execute_from_commandline()
    finally:
        driver.close()
