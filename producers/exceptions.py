"""Errors of the checkpoint side."""

from schemas import GoodsflowError


class PublishError(GoodsflowError):
    """An event could not be delivered to Kafka."""
