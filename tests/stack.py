"""Small helpers for tests that talk to the real stack."""

from __future__ import annotations

from goodsflow.settings import Settings
from producers.publisher import KafkaEventPublisher


def publisher(settings: Settings) -> KafkaEventPublisher:
    """goodsflow's own publisher, to this test session's checkpoint-events topic."""
    return KafkaEventPublisher(settings.bootstrap_servers, settings.topics.checkpoint_events)
