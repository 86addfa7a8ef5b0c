"""The questions investigators ask of the graph, answered from Neo4j.

Each question is one method of :class:`Neo4jQueries`: parameterized Cypher (no value is
ever pasted into a query), a bound on the rows returned (``limit`` of at most
:data:`graph.results.MAX_ROWS`, and ``offset`` to page), and a server-side timeout. The
embedded store (``graph.embedded``) answers the same methods from networkx, with the same
result models, and a test compares the two on the same traffic.

Conventions shared by both backends:

- time windows are ``[since, until)`` in event time; passages that a correction retracted
  are shown (marked) by ``trace`` and left out of counts and flows;
- the entity graph that ``neighbourhood`` and ``connection`` walk is made of shipments,
  parties, vehicles, drivers and seizures, joined by SHIPPED_BY, CONSIGNED_TO, CARRIED_BY,
  DRIVEN_BY, SEIZED_FROM and IMPLICATES; a hop is one such relationship.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any, LiteralString

import neo4j
from neo4j.exceptions import ClientError, DriverError, Neo4jError

from graph.cypher import (
    ALERT_QUERY,
    ALERTS_QUERY,
    FLOWS_QUERY,
    HOTSPOTS_BY_CHECKPOINT_QUERY,
    HOTSPOTS_BY_LOCALITY_QUERY,
    OUTCOMES_QUERY,
    PASSED_QUERY,
    RECORDED_EVIDENCE_QUERY,
    TRACE_QUERY,
)
from graph.exceptions import GraphUnavailable, NotFound, QueryError
from graph.results import (
    MAX_ROWS,
    AlertDetail,
    AlertRecord,
    AlertSummary,
    ConnectionPath,
    EntityKind,
    Flow,
    GraphDigest,
    GraphLink,
    GraphNode,
    Hotspot,
    Neighbourhood,
    Passage,
    RuleOutcomes,
    ShipmentEntities,
    ShipmentTrace,
    alert_detail,
    alert_facts,
    check_page,
    check_window,
    rule_outcomes,
)
from schemas import CaseStatus

# The entity graph: labels, the property that identifies each, and the relationships.
ENTITY_KEYS: dict[str, tuple[str, str]] = {
    "shipment": ("Shipment", "shipment_id"),
    "party": ("Party", "party_id"),
    "vehicle": ("Vehicle", "plate"),
    "driver": ("Driver", "driver_id"),
    "seizure": ("Seizure", "seizure_id"),
}
KIND_OF_LABEL = {label: kind for kind, (label, _) in ENTITY_KEYS.items()}
ENTITY_RELATIONSHIPS = (
    "SHIPPED_BY",
    "CONSIGNED_TO",
    "CARRIED_BY",
    "DRIVEN_BY",
    "SEIZED_FROM",
    "IMPLICATES",
)
MAX_HOPS = 4
MAX_PATH_HOPS = 8


# Every label's identifying property (reference nodes too), for digests.
NODE_KEYS: dict[str, str] = {
    **{label: key for label, key in ENTITY_KEYS.values()},
    "Checkpoint": "checkpoint_id",
    "Locality": "code",
    "GoodsCategory": "code",
    "Alert": "alert_id",
    "Correction": "event_id",
    "CaseStep": "step_id",
}


def _any_key_of(var: str) -> str:
    cases = " ".join(f"WHEN '{label}' THEN {var}.{key}" for label, key in NODE_KEYS.items())
    return f"CASE labels({var})[0] {cases} END"


# The relationships around some shipments, and around the seizures and alerts about them:
# what a digest of "their" graph covers. Alerts detection withdrew are left out: whether an
# alert on an open leg was raised and then withdrawn when the next scan came, or never
# raised, depends on when the watermark passed (docs/STREAMS.md), and both end the same.
AROUND_SHIPMENTS_QUERY: LiteralString = (  # built from constants only
    "MATCH (s:Shipment) WHERE s.shipment_id IN $ids "
    "MATCH (s)-[r]-(n) WHERE NOT (n:Alert AND n.detection_status = 'withdrawn') "
    "WITH collect(r) AS near, collect(DISTINCT n) AS ns "
    "UNWIND ns AS n "
    "OPTIONAL MATCH (n)-[r2]-() WHERE n:Seizure OR n:Alert "
    "WITH near, collect(r2) AS far "
    "UNWIND near + far AS r "
    "WITH DISTINCT r "
    "RETURN type(r) AS type, labels(startNode(r))[0] AS start_label, "
    f"{_any_key_of('startNode(r)')} AS start_key, labels(endNode(r))[0] AS end_label, "
    f"{_any_key_of('endNode(r)')} AS end_key, "
    "coalesce(r.event_id, r.alert_id, r.step_id) AS made_by, "
    "coalesce(r.retracted, false) AS retracted"
)


Relationship = tuple[str, str, str, str, str, str, bool]


def canonical(rows: list[dict[str, Any]]) -> list[Relationship]:
    """Relationships as sorted tuples: type, both ends (label and key), the event, alert or
    case step that made it, retracted or not."""
    return sorted(
        (
            r["type"],
            r["start_label"],
            str(r["start_key"]),
            r["end_label"],
            str(r["end_key"]),
            str(r["made_by"] or ""),
            bool(r["retracted"]),
        )
        for r in rows
    )


def digest(rows: list[dict[str, Any]]) -> GraphDigest:
    """Counts and a canonical SHA-256 of relationships (:func:`canonical`)."""
    canon = canonical(rows)
    nodes = {(c[1], c[2]) for c in canon} | {(c[3], c[4]) for c in canon}
    return GraphDigest(
        nodes=dict(sorted(Counter(label for label, _ in nodes).items())),
        relationships=dict(sorted(Counter(c[0] for c in canon).items())),
        sha256=hashlib.sha256(json.dumps(canon).encode()).hexdigest(),
    )


def _key_of(var: str) -> str:
    """A Cypher expression for the identifying property of node ``var``, by its label
    (properties overlap: a Seizure has a driver_id too)."""
    cases = " ".join(f"WHEN '{label}' THEN {var}.{key}" for label, key in ENTITY_KEYS.values())
    return f"CASE labels({var})[0] {cases} END"


_RELS = "|".join(ENTITY_RELATIONSHIPS)

# One hop of the entity graph from a set of nodes (by element id).
EXPAND_QUERY: LiteralString = (  # built from constants only
    "UNWIND $ids AS id MATCH (x) WHERE elementId(x) = id "
    f"MATCH (x)-[r:{_RELS}]-(y) "
    "RETURN elementId(x) AS from_id, elementId(y) AS to_id, labels(y)[0] AS label, "
    f"{_key_of('y')} AS key, type(r) AS type, r.event_id AS event_id, "
    f"startNode(r) = x AS outgoing, labels(x)[0] AS from_label, {_key_of('x')} AS from_key "
    "ORDER BY from_label, from_key, type, label, key, event_id"
)


# Declared shipments with their parties, vehicle and driver (of the current declaration),
# seizures and open alerts: what the ring analytics work on.
SHIPMENT_ENTITIES_QUERY: LiteralString = (  # built from constants only
    "MATCH (s:Shipment) WHERE s.declared_at >= $since AND s.declared_at < $until "
    "MATCH (s)-[r:SHIPPED_BY|CONSIGNED_TO|CARRIED_BY|DRIVEN_BY]->(e) "
    "WHERE r.event_id = s.declaration_event_id "
    f"WITH s, collect(DISTINCT [labels(e)[0], {_key_of('e')}]) AS entities "
    "OPTIONAL MATCH (z:Seizure)-[:SEIZED_FROM]->(s) WHERE NOT coalesce(z.retracted, false) "
    "WITH s, entities, count(DISTINCT z) AS seizures "
    "OPTIONAL MATCH (a:Alert)-[:FLAGS]->(s) WHERE a.detection_status = 'open' "
    "RETURN s.shipment_id AS shipment_id, s.declaration_event_id AS event_id, entities, "
    "seizures, count(DISTINCT a) AS alerts "
    "ORDER BY shipment_id LIMIT $cap"
)


def _node_query(kind: str) -> LiteralString:
    label, key = ENTITY_KEYS[kind]
    # label and key come from ENTITY_KEYS (constants), never from input
    return f"MATCH (n:{label} {{{key}: $id}}) RETURN elementId(n) AS element_id LIMIT 1"


def _paths_query(max_hops: int) -> LiteralString:
    # max_hops is an int checked against MAX_PATH_HOPS: Cypher takes no parameter there
    return (
        "MATCH (a), (b) WHERE elementId(a) = $a AND elementId(b) = $b "
        f"MATCH p = allShortestPaths((a)-[:{_RELS}*..{int(max_hops)}]-(b)) "
        f"RETURN [n IN nodes(p) | [labels(n)[0], {_key_of('n')}]] AS nodes, "
        "[r IN relationships(p) | [type(r), r.event_id, "
        f"labels(startNode(r))[0], {_key_of('startNode(r)')}, "
        f"labels(endNode(r))[0], {_key_of('endNode(r)')}]] AS rels "
        "LIMIT $cap"
    )


# -- parameter checks both backends make, before asking anything --------------------------
def check_place(checkpoint_id: str | None, locality: str | None) -> None:
    if (checkpoint_id is None) == (locality is None):
        raise QueryError("give a checkpoint or a locality (one of them)")


def check_hotspots_by(by: str) -> None:
    if by not in ("checkpoint", "locality"):
        raise QueryError(f"hotspots are by checkpoint or locality, not {by!r}")


def check_case_status(case_status: str | None) -> None:
    if case_status is not None and case_status not in {s.value for s in CaseStatus}:
        raise QueryError(
            f"case_status must be one of {', '.join(s.value for s in CaseStatus)}, "
            f"not {case_status!r}"
        )


def check_kind(kind: str) -> None:
    if kind not in ENTITY_KEYS:
        raise QueryError(f"unknown kind {kind!r}; one of {', '.join(ENTITY_KEYS)}")


def check_hops(hops: int, limit: int) -> None:
    if not 1 <= hops <= MAX_HOPS:
        raise QueryError(f"hops must be between 1 and {MAX_HOPS}, not {hops}")
    check_page(limit, 0)


def check_max_hops(max_hops: int, limit: int) -> None:
    if not 1 <= max_hops <= MAX_PATH_HOPS:
        raise QueryError(f"max_hops must be between 1 and {MAX_PATH_HOPS}, not {max_hops}")
    check_page(limit, 0)


def check_different(a: object, b: object) -> None:
    if a == b:
        raise QueryError("the two entities are the same")


def entity_key(kind: str, key: str) -> str:
    return f"{kind}:{key}"


def walk(
    kind: str,
    key: str,
    start: Any,
    hops: int,
    limit: int,
    expand: Callable[[list[Any]], list[dict[str, Any]]],
) -> Neighbourhood:
    """Breadth first from ``start`` (a backend's node id); ``expand`` gives one hop from a
    frontier as rows with from_id, to_id, label, key, type, event_id, outgoing, from_label
    and from_key. Rows are taken in one order whatever the backend, so ``limit`` cuts the
    same nodes off."""
    center = GraphNode(kind=kind, id=key, hops=0)
    names = {start: entity_key(kind, key)}
    nodes: dict[Any, GraphNode] = {start: center}
    links: dict[tuple[str, str, str, str], GraphLink] = {}
    frontier, truncated = [start], False
    for hop in range(1, hops + 1):
        if not frontier:
            break
        rows = sorted(
            expand(frontier),
            key=lambda r: (
                r["from_label"],
                r["from_key"],
                r["type"],
                r["label"],
                r["key"],
                r["event_id"],
            ),
        )
        next_frontier: list[Any] = []
        for r in rows:
            to_id = r["to_id"]
            if to_id not in nodes:
                if len(nodes) >= limit:
                    truncated = True
                    continue
                kind_y = _kind(r["label"])
                nodes[to_id] = GraphNode(kind=kind_y, id=r["key"], hops=hop)
                names[to_id] = entity_key(kind_y, r["key"])
                next_frontier.append(to_id)
            a, b = names[r["from_id"]], names[to_id]
            source, target = (a, b) if r["outgoing"] else (b, a)
            link = GraphLink(source=source, target=target, type=r["type"], event_id=r["event_id"])
            links[(source, target, link.type, link.event_id)] = link
        frontier = next_frontier
    return Neighbourhood(
        center=center,
        nodes=sorted(nodes.values(), key=lambda n: (n.hops, n.kind, n.id)),
        links=sorted(links.values(), key=lambda k: (k.source, k.target, k.type, k.event_id)),
        truncated=truncated,
    )


def path_order(path: ConnectionPath) -> list[tuple[str, str]]:
    """Paths in a stable order, the same from either backend."""
    return [(n.kind, n.id) for n in path.nodes] + [(x.type, x.event_id) for x in path.links]


class Neo4jQueries:
    """Investigator queries against Neo4j.

    Args:
        driver: an open ``neo4j.Driver``; never closed here.
        database: the Neo4j database name.
        timeout_s: the server-side limit for each query's transaction.

    Raises:
        QueryError: bad parameters (before anything is sent).
        NotFound: the shipment or entity asked about is not in the graph.
        GraphUnavailable: Neo4j is unreachable, or a query timed out.
    """

    def __init__(self, driver: neo4j.Driver, database: str = "neo4j", timeout_s: float = 10.0):
        self._driver, self._database, self._timeout = driver, database, timeout_s

    def _read(self, text: LiteralString, **params: Any) -> list[dict[str, Any]]:
        try:
            records, _, _ = self._driver.execute_query(
                neo4j.Query(text, timeout=self._timeout),
                params,
                routing_=neo4j.RoutingControl.READ,
                database_=self._database,
            )
        except ClientError as exc:
            if "TimedOut" in (exc.code or ""):
                raise GraphUnavailable(f"the query took longer than {self._timeout} s") from exc
            raise
        except (DriverError, Neo4jError) as exc:
            raise GraphUnavailable(f"Neo4j could not answer: {exc}") from exc
        return [_native(r.data()) for r in records]

    # -- shipments and places ---------------------------------------------------------------
    def trace(self, shipment_id: str, limit: int = 500) -> ShipmentTrace:
        """A shipment's passages in order (retracted ones marked), its alerts and their
        evidence ids."""
        check_page(limit, 0)
        rows = self._read(TRACE_QUERY, shipment_id=shipment_id, limit=limit)
        if not rows:
            raise NotFound(f"shipment {shipment_id} is not in the graph")
        row = rows[0]
        return ShipmentTrace(
            **{k: v for k, v in row["shipment"].items() if v is not None},
            passages=[Passage(**p) for p in row["passages"]],
            alerts=[AlertSummary(**a) for a in row["alerts"]],
        )

    def passed(
        self,
        since: datetime,
        until: datetime,
        *,
        checkpoint_id: str | None = None,
        locality: str | None = None,
        category: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Passage]:
        """What passed a checkpoint (or any checkpoint of a locality) in ``[since, until)``,
        in time order; optionally only shipments declaring a goods category."""
        check_window(since, until)
        check_page(limit, offset)
        check_place(checkpoint_id, locality)
        rows = self._read(
            PASSED_QUERY,
            since=since,
            until=until,
            checkpoint_id=checkpoint_id,
            locality=locality,
            category=category,
            limit=limit,
            offset=offset,
        )
        return [Passage(**r) for r in rows]

    def flows(
        self,
        since: datetime,
        until: datetime,
        *,
        category: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Flow]:
        """Locality-to-locality movements in ``[since, until)`` by goods category: how many
        shipments and their declared weight, busiest first."""
        check_window(since, until)
        check_page(limit, offset)
        rows = self._read(
            FLOWS_QUERY, since=since, until=until, category=category, limit=limit, offset=offset
        )
        return [Flow(**r) for r in rows]

    def hotspots(
        self,
        since: datetime,
        until: datetime,
        *,
        by: str = "checkpoint",
        limit: int = 20,
        offset: int = 0,
    ) -> list[Hotspot]:
        """Checkpoints (or localities) ranked by open alerts and seizures in the window."""
        check_window(since, until)
        check_page(limit, offset)
        check_hotspots_by(by)
        query = HOTSPOTS_BY_CHECKPOINT_QUERY if by == "checkpoint" else HOTSPOTS_BY_LOCALITY_QUERY
        rows = self._read(query, since=since, until=until, limit=limit, offset=offset)
        return [Hotspot(**r) for r in rows]

    def digest(self, shipment_ids: list[str]) -> GraphDigest:
        """A digest of the graph around these shipments (graph.queries.digest)."""
        return digest(self._read(AROUND_SHIPMENTS_QUERY, ids=shipment_ids))

    def relationships(self, shipment_ids: list[str]) -> list[Relationship]:
        """What the digest covers, one tuple per relationship (to tell what differs)."""
        return canonical(self._read(AROUND_SHIPMENTS_QUERY, ids=shipment_ids))

    def shipment_entities(
        self, since: datetime, until: datetime, cap: int = 500_000
    ) -> list[ShipmentEntities]:
        """Shipments declared in ``[since, until)`` with their parties, vehicle, driver,
        seizures and open alerts (at most ``cap``), for :func:`graph.analytics.find_rings`."""
        check_window(since, until)
        rows = self._read(SHIPMENT_ENTITIES_QUERY, since=since, until=until, cap=cap)
        return [
            ShipmentEntities(
                **{**r, "entities": sorted((_kind(label), key) for label, key in r["entities"])}
            )
            for r in rows
        ]

    # -- alerts ---------------------------------------------------------------------------
    def alerts(
        self,
        *,
        locality: str | None = None,
        status: str | None = None,
        case_status: str | None = None,
        rule: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AlertRecord]:
        """Alerts, newest first: those involving a locality or transferred to it (its task
        force's list), with a detection status (open, withdrawn), a case status (new,
        acknowledged, transferred, closed), of a rule, raised in a window."""
        check_window(since, until)
        check_page(limit, offset)
        check_case_status(case_status)
        rows = self._read(
            ALERTS_QUERY,
            locality=locality,
            status=status,
            case_status=case_status,
            rule=rule,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )
        return [AlertRecord(**r["alert"]) for r in rows]

    def alert(self, alert_id: str) -> AlertDetail:
        """One alert with its severity factors and its evidence, each fact marked with
        whether the graph holds the event it came from."""
        rows = self._read(ALERT_QUERY, alert_id=alert_id)
        if not rows:
            raise NotFound(f"alert {alert_id} is not in the graph")
        props = rows[0]["alert"]
        facts = [
            {"shipment_id": f["shipment_id"], "event_id": f["event_id"]} for f in alert_facts(props)
        ]
        found = self._read(RECORDED_EVIDENCE_QUERY, facts=facts) if facts else []
        return alert_detail(props, {r["event_id"] for r in found}, rows[0]["steps"])

    def outcomes(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        locality: str | None = None,
    ) -> list[RuleOutcomes]:
        """Per rule, the cases closed in ``[since, until)`` as confirmed and as false
        alarms (of a locality's alerts, or all), and the precision they give."""
        check_window(since, until)
        rows = self._read(OUTCOMES_QUERY, since=since, until=until, locality=locality)
        return rule_outcomes(rows)

    # -- the entity graph -----------------------------------------------------------------
    def _element_id(self, kind: str, key: str) -> str:
        check_kind(kind)
        rows = self._read(_node_query(kind), id=key)
        if not rows:
            raise NotFound(f"{kind} {key} is not in the graph")
        return str(rows[0]["element_id"])

    def neighbourhood(
        self, kind: EntityKind, key: str, hops: int = 2, limit: int = 200
    ) -> Neighbourhood:
        """Everything within ``hops`` relationships of a party, vehicle, driver or shipment:
        the shipments it took part in, the vehicles, drivers and parties of those, seizures.
        Breadth first; stops adding nodes at ``limit`` (``truncated`` then says so)."""
        check_hops(hops, limit)
        start = self._element_id(kind, key)
        return walk(kind, key, start, hops, limit, lambda ids: self._read(EXPAND_QUERY, ids=ids))

    def connection(
        self,
        a: tuple[EntityKind, str],
        b: tuple[EntityKind, str],
        max_hops: int = 6,
        limit: int = 20,
    ) -> list[ConnectionPath]:
        """The shortest paths between two entities, each link with the event that made it;
        empty when they are not connected within ``max_hops``."""
        check_max_hops(max_hops, limit)
        ida, idb = self._element_id(*a), self._element_id(*b)
        check_different(ida, idb)
        rows = self._read(_paths_query(max_hops), a=ida, b=idb, cap=MAX_ROWS)
        return sorted((_path(r) for r in rows), key=path_order)[:limit]


def _path(row: dict[str, Any]) -> ConnectionPath:
    nodes = [
        GraphNode(kind=_kind(label), id=key, hops=i) for i, (label, key) in enumerate(row["nodes"])
    ]
    links = [
        GraphLink(
            source=entity_key(_kind(start_label), start_key),
            target=entity_key(_kind(end_label), end_key),
            type=type_,
            event_id=event_id,
        )
        for type_, event_id, start_label, start_key, end_label, end_key in row["rels"]
    ]
    return ConnectionPath(nodes=nodes, links=links)


def _kind(label: str) -> str:
    return KIND_OF_LABEL.get(label, label.lower())


def _native(value: Any) -> Any:
    """Neo4j temporal values to Python ones, recursively."""
    if hasattr(value, "to_native"):
        return value.to_native()
    if isinstance(value, dict):
        return {k: _native(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_native(v) for v in value]
    return value
