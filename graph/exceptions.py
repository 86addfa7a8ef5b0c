"""Errors of the graph package."""

from schemas import GoodsflowError


class GraphError(GoodsflowError):
    """Base of graph errors."""


class GraphUnavailable(GraphError):
    """Neo4j could not be reached, or a write still failed after the driver's retries."""


class QueryError(GraphError):
    """A query's parameters are wrong (an unknown kind, a window that ends before it
    starts, a page too large)."""


class NotFound(GraphError):
    """The shipment, party, vehicle, driver or alert asked about is not in the graph."""
