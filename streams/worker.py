"""The worker's bootstrap: build adapters from settings, wire them, start Faust's worker.

Run it with ``goodsflow worker`` (one process; start more with the same settings, on
other metrics ports, to share the partitions through Kafka's consumer groups).
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
    """Create topics and graph schema if needed, then run the worker until stopped."""
    import faust

    from streams.app import Dependencies, app, configure

    registry = load_registry()
    topics = settings.topics
    ensure_topics(settings.bootstrap_servers, topics)
    driver = neo4j_driver(settings)
    writer = Neo4jGraphWriter(driver, settings.neo4j.database)
    writer.init_schema(registry)
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
