"""The checkpoint side: publishing events to Kafka, and generated traffic."""

from producers.exceptions import PublishError

__all__ = ["PublishError"]
