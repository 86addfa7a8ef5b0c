"""Build adapters from settings, in one place, for every entry point."""

from __future__ import annotations

import neo4j

from goodsflow.settings import Settings


def neo4j_driver(settings: Settings) -> neo4j.Driver:
    """A driver for the configured Neo4j (it connects lazily, on first use)."""
    return neo4j.GraphDatabase.driver(
        settings.neo4j_uri, auth=(settings.neo4j.user, settings.neo4j_password())
    )
