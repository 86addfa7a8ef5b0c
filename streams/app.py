"""The Faust app: app, topics and tables. Agents live in ``streams.agents``.

The module-level app connects to nothing until a worker starts; ``configure`` (called by
the worker bootstrap) sets the broker and the rest from settings.

Messages are raw JSON bytes on the wire, validated by the pydantic models at the boundary.
"""

from __future__ import annotations

import warnings
from typing import Any

import faust
from faust.exceptions import AlreadyConfiguredWarning
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.topics import (
    ALERT_CASES,
    ALERTS,
    APP_ID,
    CHECKPOINT_EVENTS,
    CHECKPOINT_EVENTS_DLQ,
    PARTITIONS,
    SHIPMENT_STATE_TABLE,
)


class IdempotentProducer(faust_aiokafka.Producer):
    """Faust's aiokafka producer with acks=all and idempotence always on.

    Faust turns idempotence on only inside exactly-once transactions (which goodsflow does
    not use); at-least-once delivery still needs it so a retried send is not duplicated.
    """

    def _settings_extra(self) -> dict[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class IdempotentTransport(faust_aiokafka.Transport):
    Producer = IdempotentProducer


class GoodsflowApp(faust.App):
    """faust.App whose Kafka producers are idempotent."""

    def _new_transport(self) -> Any:
        return IdempotentTransport(self.conf.broker_consumer, self)

    def _new_producer_transport(self) -> Any:
        return IdempotentTransport(self.conf.broker_producer, self)


app = GoodsflowApp(APP_ID, autodiscover=False, web_enabled=False, topic_partitions=PARTITIONS)


def configure(bootstrap_servers: str, **options: Any) -> None:
    """Point the app at a broker. Call once, before the worker starts."""
    # Declaring the table at import already read the defaults; replacing them is intended.
    warnings.filterwarnings("ignore", category=AlreadyConfiguredWarning)
    app.config_from_object(
        {
            "broker": f"kafka://{bootstrap_servers}",
            "store": "memory://",
            "web_enabled": False,
            "topic_partitions": PARTITIONS,
            "producer_acks": -1,
            "consumer_auto_offset_reset": "earliest",
            "table_standby_replicas": 0,
            # Faust's take_events() drops a partly filled buffer on stop without acking it,
            # so waiting for every message to be acked hangs shutdown. Without the wait,
            # Faust commits only offsets below the first unacked message: the rest is
            # redelivered after a restart, and the keyed MERGEs make that harmless.
            "stream_wait_empty": False,
            **options,
        },
        force=True,
    )


def _raw_topic(name: str) -> Any:
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=PARTITIONS,
    )


checkpoint_events_topic = _raw_topic(CHECKPOINT_EVENTS)
dead_letter_topic = _raw_topic(CHECKPOINT_EVENTS_DLQ)
alerts_topic = _raw_topic(ALERTS)
alert_cases_topic = _raw_topic(ALERT_CASES)

# shipment id -> ShipmentState as JSON; backed by the changelog topic, so a restarted or
# rebalanced worker resumes where it was.
shipment_state = app.Table(
    SHIPMENT_STATE_TABLE,
    default=None,
    partitions=PARTITIONS,
    schema=faust.Schema(key_type=str, key_serializer="json", value_serializer="json"),
)
