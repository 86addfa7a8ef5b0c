"""The embedded graph: the same projection and the same questions as Neo4j, kept in a
networkx MultiDiGraph in memory (the embedded mode, and tests without a server).

:class:`EmbeddedGraph` applies the rows of :func:`graph.projection.project` with the same
keyed-merge rules as the Cypher in graph/cypher.py (a replay changes nothing; corrections
mark, never delete; an older alert revision never overwrites a newer one).
:class:`EmbeddedQueries` answers the methods of :class:`graph.queries.Neo4jQueries` with the
same result models; tests/integration/graph/test_backends.py asks both the same questions
over the same simulated traffic and compares the answers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from itertools import pairwise
from typing import Any

import networkx as nx

from graph.projection import GraphRows, Row, project, reference_rows
from graph.queries import (
    ENTITY_KEYS,
    ENTITY_RELATIONSHIPS,
    KIND_OF_LABEL,
    MAX_HOPS,
    MAX_PATH_HOPS,
    entity_key,
    path_order,
    walk,
)
from graph.results import (
    AlertSummary,
    ConnectionPath,
    EntityKind,
    Flow,
    GraphLink,
    GraphNode,
    Hotspot,
    Neighbourhood,
    NotFound,
    Passage,
    QueryError,
    ShipmentTrace,
    check_page,
    check_window,
)
from schemas import Alert, Event, Registry

Node = tuple[str, str]  # (label, key)


class EmbeddedGraph:
    """The supply-chain graph in memory."""

    def __init__(self, registry: Registry) -> None:
        self.g = nx.MultiDiGraph()
        self._by_event: dict[str, list[tuple[Node, Node, str]]] = defaultdict(list)
        self._corrected: dict[str, str] = {}  # corrected event id -> earliest correction id
        localities, checkpoints = reference_rows(registry)
        for loc in localities:
            self.g.add_node(("Locality", loc["code"]), **loc)
        for cp in checkpoints:
            node = ("Checkpoint", cp["checkpoint_id"])
            self.g.add_node(node, **cp)
            self.g.add_edge(node, ("Locality", cp["locality"]), key="LOCATED_IN", type="LOCATED_IN")

    # -- writing -------------------------------------------------------------------------
    def write(self, events: Iterable[Event] = (), alerts: Iterable[Alert] = ()) -> int:
        rows = project(events, alerts)
        self.write_rows(rows)
        return len(rows)

    def write_rows(self, rows: GraphRows) -> None:
        for name, batch in rows.statements().items():
            apply = getattr(self, f"_{name}")
            for row in batch:
                apply(row)

    def _node(self, label: str, key: str, event_id: str | None = None) -> Node:
        node = (label, key)
        if node not in self.g:
            self.g.add_node(node)
        if event_id is not None:
            ids = self.g.nodes[node].setdefault("event_ids", [])
            if event_id not in ids:
                ids.append(event_id)
        return node

    def _edge(
        self, u: Node, v: Node, type_: str, event_id: str, extra: str = "", **props: Any
    ) -> None:
        key = f"{type_}|{event_id}|{extra}"
        if not self.g.has_edge(u, v, key):
            self.g.add_edge(u, v, key=key, type=type_, event_id=event_id)
            self._by_event[event_id].append((u, v, key))
        data = self.g.edges[u, v, key]
        data.update(props)
        if type_ not in ("SHIPPED_BY", "CONSIGNED_TO", "CARRIED_BY", "DRIVEN_BY", "CONTAINS"):
            by = self._corrected.get(event_id)
            data["retracted"], data["retracted_by"] = by is not None, by

    def _declarations(self, row: Row) -> None:
        s = self._node("Shipment", row["shipment_id"], row["event_id"])
        props = self.g.nodes[s]
        if props.get("declared_at") is None or props["declared_at"] <= row["declared_at"]:
            props.update(
                declaration_event_id=row["event_id"],
                declared_at=row["declared_at"],
                origin_country=row["origin_country"],
                destination_locality=row["destination_locality"],
                vehicle_plate=row["vehicle_plate"],
                driver_id=row["driver_id"],
                categories=row["categories"],
                declared_weight_kg=row["declared_weight_kg"],
            )
        eid = row["event_id"]
        self._edge(s, ("Locality", row["destination_locality"]), "DESTINED_FOR", eid)
        self._edge(s, self._node("Vehicle", row["vehicle_plate"], eid), "CARRIED_BY", eid)
        self._edge(s, self._node("Driver", row["driver_id"], eid), "DRIVEN_BY", eid)
        for line in row["goods"]:
            category = self._node("GoodsCategory", line["category"])
            self._edge(s, category, "CONTAINS", eid, str(line["line"]), **line)

    def _parties(self, row: Row) -> None:
        p = self._node("Party", row["party_id"], row["event_id"])
        props = self.g.nodes[p]
        props["name"] = row["name"]
        props["tax_code"] = row.get("tax_code") or props.get("tax_code")

    def _shippers(self, row: Row) -> None:
        s, p = ("Shipment", row["shipment_id"]), ("Party", row["party_id"])
        self._edge(s, p, "SHIPPED_BY", row["event_id"])

    def _consignees(self, row: Row) -> None:
        s, p = ("Shipment", row["shipment_id"]), ("Party", row["party_id"])
        self._edge(s, p, "CONSIGNED_TO", row["event_id"])

    def _planned_stops(self, row: Row) -> None:
        s, c = ("Shipment", row["shipment_id"]), ("Checkpoint", row["checkpoint_id"])
        self._edge(s, c, "PLANNED_STOP", row["event_id"], str(row["position"]))

    def _at(self, row: Row, type_: str, **props: Any) -> None:
        s = self._node("Shipment", row["shipment_id"], row["event_id"])
        c = ("Checkpoint", row["checkpoint_id"])
        self._edge(s, c, type_, row["event_id"], occurred_at=row["occurred_at"], **props)

    def _passages(self, row: Row) -> None:
        keys = ("direction", "observed_weight_kg", "seal_status")
        self._at(row, "PASSED", **{k: row[k] for k in keys})

    def _inspections(self, row: Row) -> None:
        keys = ("outcome", "findings", "finding_kinds", "measured_weight_kg", "inspector_id")
        self._at(row, "INSPECTED_AT", **{k: row[k] for k in keys})

    def _seizures(self, row: Row) -> None:
        s = self._node("Shipment", row["shipment_id"], row["event_id"])
        z = self._node("Seizure", row["seizure_id"])
        eid = row["event_id"]
        props = self.g.nodes[z]
        props.update(
            event_id=eid,
            occurred_at=row["occurred_at"],
            reason=row["reason"],
            categories=row["categories"],
            checkpoint_id=row["checkpoint_id"],
        )
        by = self._corrected.get(eid)
        props["retracted"], props["retracted_by"] = by is not None, by
        self._edge(z, s, "SEIZED_FROM", eid)
        self._edge(z, ("Checkpoint", row["checkpoint_id"]), "SEIZED_AT", eid)
        for party in row["parties"]:
            p = self._node("Party", party["party_id"])
            self.g.nodes[p]["name"] = party["name"]
            self._edge(z, p, "IMPLICATES", eid)
        if row["vehicle_plate"] is not None:
            self._edge(z, self._node("Vehicle", row["vehicle_plate"]), "IMPLICATES", eid)
        if row["driver_id"] is not None:
            self._edge(z, self._node("Driver", row["driver_id"]), "IMPLICATES", eid)

    def _transfers(self, row: Row) -> None:
        s = self._node("Shipment", row["shipment_id"], row["event_id"])
        to = self._node("Shipment", row["to_shipment_id"])
        self._edge(s, to, "TRANSFERRED_TO", row["event_id"], occurred_at=row["occurred_at"])

    def _corrections(self, row: Row) -> None:
        x = self._node("Correction", row["event_id"])
        self.g.nodes[x].update(corrected_event_id=row["corrected_event_id"])
        self._edge(x, self._node("Shipment", row["shipment_id"]), "CORRECTS", row["event_id"])
        target = row["corrected_event_id"]
        earlier = self._corrected.get(target)
        by = row["event_id"] if earlier is None else min(earlier, row["event_id"])
        self._corrected[target] = by
        for u, v, key in self._by_event.get(target, []):
            data = self.g.edges[u, v, key]
            if data["type"] in (
                "PASSED",
                "PLANNED_STOP",
                "INSPECTED_AT",
                "TRANSFERRED_TO",
                "DESTINED_FOR",
                "SEIZED_FROM",
            ):
                data["retracted"], data["retracted_by"] = True, by
        for node, props in self.g.nodes(data=True):
            if node[0] == "Seizure" and props.get("event_id") == target:
                props["retracted"], props["retracted_by"] = True, by

    def _alerts(self, row: Row) -> None:
        a = self._node("Alert", row["alert_id"])
        props = self.g.nodes[a]
        if props.get("revision", 0) > row["revision"]:
            return
        props.update(
            revision=row["revision"],
            rule=row["rule"],
            severity=row["severity"],
            detection_status=row["status"],
            raised_at=row["raised_at"],
            explanation_vi=row["explanation_vi"],
            explanation_en=row["explanation_en"],
            evidence_event_ids=row["evidence_event_ids"],
        )
        s = self._node("Shipment", row["shipment_id"])
        self.g.add_edge(a, s, key="FLAGS", type="FLAGS", alert_id=row["alert_id"])
        for code in row["localities"]:
            self.g.add_edge(a, ("Locality", code), key="INVOLVES", type="INVOLVES")


def _in(when: datetime, since: datetime, until: datetime) -> bool:
    return since <= when < until


class EmbeddedQueries:
    """The investigator queries of :class:`graph.queries.Neo4jQueries`, from memory."""

    def __init__(self, graph: EmbeddedGraph) -> None:
        self.graph, self.g = graph, graph.g

    def _edges(self, type_: str) -> Iterable[tuple[Node, Node, dict[str, Any]]]:
        for u, v, data in self.g.edges(data=True):
            if data["type"] == type_:
                yield u, v, data

    def _passage(self, s: Node, c: Node, data: dict[str, Any]) -> Passage:
        return Passage(
            shipment_id=s[1],
            event_id=data["event_id"],
            occurred_at=data["occurred_at"],
            checkpoint_id=c[1],
            locality=self.g.nodes[c]["locality"],
            direction=data["direction"],
            observed_weight_kg=data["observed_weight_kg"],
            retracted=bool(data.get("retracted")),
        )

    def trace(self, shipment_id: str, limit: int = 500) -> ShipmentTrace:
        check_page(limit, 0)
        s = ("Shipment", shipment_id)
        if s not in self.g:
            raise NotFound(f"shipment {shipment_id} is not in the graph")
        passages = sorted(
            (
                self._passage(s, c, data)
                for _, c, data in self.g.out_edges(s, data=True)
                if data["type"] == "PASSED"
            ),
            key=lambda p: (p.occurred_at, p.event_id),
        )[:limit]
        alerts = []
        for a, _, data in self.g.in_edges(s, data=True):
            if data["type"] == "FLAGS":
                props = self.g.nodes[a]
                summary = ("rule", "severity", "raised_at", "explanation_vi", "explanation_en")
                alerts.append(
                    AlertSummary(
                        alert_id=a[1],
                        status=props.get("detection_status") or "open",
                        evidence_event_ids=props["evidence_event_ids"],
                        **{k: props[k] for k in summary},
                    )
                )
        props = self.g.nodes[s]
        declared = (
            "declared_at",
            "origin_country",
            "destination_locality",
            "categories",
            "declared_weight_kg",
        )
        known = {k: props[k] for k in declared if props.get(k) is not None}
        return ShipmentTrace(
            shipment_id=shipment_id,
            **known,
            passages=passages,
            alerts=sorted(alerts, key=lambda a: (a.raised_at, a.alert_id)),
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
        check_window(since, until)
        check_page(limit, offset)
        if (checkpoint_id is None) == (locality is None):
            raise QueryError("give a checkpoint or a locality (one of them)")
        found = []
        for s, c, data in self._edges("PASSED"):
            if data.get("retracted") or not _in(data["occurred_at"], since, until):
                continue
            if checkpoint_id is not None and c[1] != checkpoint_id:
                continue
            if locality is not None and self.g.nodes[c]["locality"] != locality:
                continue
            if category is not None and category not in self.g.nodes[s].get("categories", []):
                continue
            found.append(self._passage(s, c, data))
        found.sort(key=lambda p: (p.occurred_at, p.event_id))
        return found[offset : offset + limit]

    def flows(
        self,
        since: datetime,
        until: datetime,
        *,
        category: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Flow]:
        check_window(since, until)
        check_page(limit, offset)
        per_shipment: dict[Node, list[tuple[datetime, str, str]]] = defaultdict(list)
        for s, c, data in self._edges("PASSED"):
            if not data.get("retracted") and _in(data["occurred_at"], since, until):
                locality = self.g.nodes[c]["locality"]
                per_shipment[s].append((data["occurred_at"], data["event_id"], locality))
        moves: dict[tuple[str, str, str], list[float]] = defaultdict(list)
        for s, passages in per_shipment.items():
            codes = [code for _, _, code in sorted(passages)]
            pairs = {(a, b) for a, b in pairwise(codes) if a != b}
            if not pairs:
                continue
            declaration = self.g.nodes[s].get("declaration_event_id")
            weights: dict[str, float] = defaultdict(float)
            for _, g, data in self.g.out_edges(s, data=True):
                wanted = category is None or g[1] == category
                if data["type"] == "CONTAINS" and data["event_id"] == declaration and wanted:
                    weights[g[1]] += data["weight_kg"]
            for a, b in pairs:
                for code, weight in weights.items():
                    moves[(a, b, code)].append(weight)
        flows = [
            Flow(
                from_locality=a,
                to_locality=b,
                category=code,
                shipments=len(ws),
                weight_kg=round(sum(ws), 3),
            )
            for (a, b, code), ws in moves.items()
        ]
        flows.sort(
            key=lambda f: (-f.shipments, -f.weight_kg, f.from_locality, f.to_locality, f.category)
        )
        return flows[offset : offset + limit]

    def hotspots(
        self,
        since: datetime,
        until: datetime,
        *,
        by: str = "checkpoint",
        limit: int = 20,
        offset: int = 0,
    ) -> list[Hotspot]:
        check_window(since, until)
        check_page(limit, offset)
        if by not in ("checkpoint", "locality"):
            raise QueryError(f"hotspots are by checkpoint or locality, not {by!r}")
        alerts: dict[str, set[str]] = defaultdict(set)
        seizures: dict[str, int] = defaultdict(int)
        for node, props in self.g.nodes(data=True):
            if node[0] == "Alert":
                if props.get("detection_status") != "open" or not _in(
                    props["raised_at"], since, until
                ):
                    continue
                for _, target, data in self.g.out_edges(node, data=True):
                    if by == "locality" and data["type"] == "INVOLVES":
                        alerts[target[1]].add(node[1])
                    if by == "checkpoint" and data["type"] == "FLAGS":
                        evidence = set(props["evidence_event_ids"])
                        for _, c, p in self.g.out_edges(target, data=True):
                            if p["type"] == "PASSED" and p["event_id"] in evidence:
                                alerts[c[1]].add(node[1])
            elif node[0] == "Seizure":
                if props.get("retracted") or not _in(props["occurred_at"], since, until):
                    continue
                checkpoint = props["checkpoint_id"]
                place = (
                    checkpoint
                    if by == "checkpoint"
                    else self.g.nodes[("Checkpoint", checkpoint)]["locality"]
                )
                seizures[place] += 1
        ids = set(alerts) | set(seizures)
        spots = [
            Hotspot(kind=by, id=i, alerts=len(alerts.get(i, ())), seizures=seizures.get(i, 0))
            for i in ids
        ]
        spots.sort(key=lambda h: (-h.score, h.id))
        return spots[offset : offset + limit]

    # -- the entity graph -------------------------------------------------------------------
    def _start(self, kind: str, key: str) -> Node:
        if kind not in ENTITY_KEYS:
            raise QueryError(f"unknown kind {kind!r}; one of {', '.join(ENTITY_KEYS)}")
        node = (ENTITY_KEYS[kind][0], key)
        if node not in self.g:
            raise NotFound(f"{kind} {key} is not in the graph")
        return node

    def _expand(self, frontier: list[Node]) -> list[dict[str, Any]]:
        rows = []
        for x in frontier:
            for outgoing, edges in (
                (True, self.g.out_edges(x, data=True)),
                (False, self.g.in_edges(x, data=True)),
            ):
                for u, v, data in edges:
                    if data["type"] not in ENTITY_RELATIONSHIPS:
                        continue
                    y = v if outgoing else u
                    rows.append(
                        {
                            "from_id": x, "to_id": y, "label": y[0], "key": y[1],
                            "type": data["type"], "event_id": data["event_id"],
                            "outgoing": outgoing, "from_label": x[0], "from_key": x[1],
                        }
                    )  # fmt: skip
        return rows

    def neighbourhood(
        self, kind: EntityKind, key: str, hops: int = 2, limit: int = 200
    ) -> Neighbourhood:
        if not 1 <= hops <= MAX_HOPS:
            raise QueryError(f"hops must be between 1 and {MAX_HOPS}, not {hops}")
        check_page(limit, 0)
        start = self._start(kind, key)
        return walk(kind, key, start, hops, limit, self._expand)

    def connection(
        self,
        a: tuple[EntityKind, str],
        b: tuple[EntityKind, str],
        max_hops: int = 6,
        limit: int = 20,
    ) -> list[ConnectionPath]:
        if not 1 <= max_hops <= MAX_PATH_HOPS:
            raise QueryError(f"max_hops must be between 1 and {MAX_PATH_HOPS}, not {max_hops}")
        check_page(limit, 0)
        start, goal = self._start(*a), self._start(*b)
        if start == goal:
            raise QueryError("the two entities are the same")
        # breadth first from start, keeping every edge that reaches a node on a shortest path
        dist = {start: 0}
        reached_by: dict[Node, list[dict[str, Any]]] = defaultdict(list)
        frontier = [start]
        while frontier and goal not in dist and dist[frontier[0]] < max_hops:
            nxt: list[Node] = []
            for row in self._expand(frontier):
                y = row["to_id"]
                if y not in dist:
                    dist[y] = dist[row["from_id"]] + 1
                    nxt.append(y)
                if dist[y] == dist[row["from_id"]] + 1:
                    reached_by[y].append(row)
            frontier = nxt
        if goal not in dist:
            return []

        def back(node: Node) -> list[list[dict[str, Any]]]:
            if node == start:
                return [[]]
            return [[*p, r] for r in reached_by[node] for p in back(r["from_id"])]

        paths = [self._path(start, steps) for steps in back(goal)]
        return sorted(paths, key=path_order)[:limit]

    def _path(self, start: Node, steps: list[dict[str, Any]]) -> ConnectionPath:
        chain = [start, *(r["to_id"] for r in steps)]
        nodes = [GraphNode(kind=KIND_OF_LABEL[n[0]], id=n[1], hops=i) for i, n in enumerate(chain)]
        links = []
        for r in steps:
            a = entity_key(KIND_OF_LABEL[r["from_label"]], r["from_key"])
            b = entity_key(KIND_OF_LABEL[r["label"]], r["key"])
            source, target = (a, b) if r["outgoing"] else (b, a)
            links.append(
                GraphLink(source=source, target=target, type=r["type"], event_id=r["event_id"])
            )
        return ConnectionPath(nodes=nodes, links=links)
