"""Errors of the graph package."""

from schemas import GoodsflowError


class GraphError(GoodsflowError):
    """Base of graph errors."""


class GraphUnavailable(GraphError):
    """Neo4j could not be reached, or failed in a way that a later retry may cure (still
    failing after the driver's own retries); nothing was refused, so the caller backs off and
    writes the same batch again."""


class GraphRefused(GraphError):
    """Neo4j (or the driver, packing a value to send) refused the rows written: the same rows
    fail the same way every time, so retrying them only blocks what follows.

    Attributes:
        code: Neo4j's status code (``Neo.ClientError.Statement.ArgumentError``), or
            ``goodsflow.Unsendable`` for a value the driver could not pack.
        message: Neo4j's (or the driver's) explanation.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class QueryError(GraphError):
    """A query's parameters are wrong (an unknown kind, a window that ends before it
    starts, a page too large)."""


class NotFound(GraphError):
    """The shipment, party, vehicle, driver or alert asked about is not in the graph."""
