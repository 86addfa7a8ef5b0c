"""Errors of the graph package."""

from schemas import GoodsflowError


class GraphError(GoodsflowError):
    """Base of graph errors."""


class GraphUnavailable(GraphError):
    """Neo4j could not be reached, or a write still failed after the driver's retries."""
