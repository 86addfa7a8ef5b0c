"""The supply-chain graph: projection (pure) and Cypher here; the Neo4j adapter lives in
``graph.writer`` so importing this package does not import the driver."""

from graph.exceptions import GraphError, GraphUnavailable
from graph.projection import GraphRows, project

__all__ = ["GraphError", "GraphRows", "GraphUnavailable", "project"]
