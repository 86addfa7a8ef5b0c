"""Errors of the checkpoint side."""

from schemas import GoodsflowError


class PublishError(GoodsflowError):
    """An event could not be delivered to Kafka."""


class OutboxError(GoodsflowError):
    """The local outbox file could not be opened, read or written."""


class EpcisError(GoodsflowError):
    """An EPCIS document (or the location table) cannot be read at all; nothing imported."""
