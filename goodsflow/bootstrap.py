"""Build adapters from settings, in one place, for every entry point."""

from __future__ import annotations

import neo4j

from goodsflow.settings import Settings


def neo4j_driver(settings: Settings) -> neo4j.Driver:
    """A driver for the configured Neo4j (it connects lazily, on first use).

    Notifications of the UNRECOGNIZED kind are off: goodsflow's queries read optional
    properties (a case's outcome, the locality an alert was transferred to) that a young
    graph may not have anywhere yet, and Neo4j would warn of each in the log."""
    return neo4j.GraphDatabase.driver(
        settings.neo4j_uri,
        auth=(settings.neo4j.user, settings.neo4j_password()),
        notifications_disabled_classifications=[
            neo4j.NotificationDisabledClassification.UNRECOGNIZED
        ],
    )
