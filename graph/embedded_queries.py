"""The investigator queries of :class:`graph.queries.Neo4jQueries`, answered from the
embedded graph (:class:`graph.embedded.EmbeddedGraph`) with the same result models and the
same conventions (see graph/queries.py)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from itertools import pairwise
from typing import Any

from graph.embedded import CASE_STEP_FIELDS, EmbeddedGraph, Node
from graph.exceptions import NotFound
from graph.queries import (
    ENTITY_KEYS,
    ENTITY_RELATIONSHIPS,
    KIND_OF_LABEL,
    Relationship,
    canonical,
    check_case_status,
    check_different,
    check_hops,
    check_hotspots_by,
    check_kind,
    check_max_hops,
    check_place,
    digest,
    entity_key,
    path_order,
    walk,
)
from graph.results import (
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


def _for_locality(alert: dict[str, Any], code: str) -> bool:
    """Whether an alert is in a locality's list: it involves it, or was transferred to it."""
    return code in alert["localities"] or alert.get("assigned_to") == code


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
        check_place(checkpoint_id, locality)
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
        check_hotspots_by(by)
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

    def digest(self, shipment_ids: list[str]) -> GraphDigest:
        """The same digest as Neo4jQueries.digest, from memory."""
        return digest(self._around(shipment_ids))

    def relationships(self, shipment_ids: list[str]) -> list[Relationship]:
        """What the digest covers, one tuple per relationship (to tell what differs)."""
        return canonical(self._around(shipment_ids))

    def _around(self, shipment_ids: list[str]) -> list[dict[str, Any]]:
        wanted = [("Shipment", sid) for sid in shipment_ids if ("Shipment", sid) in self.g]
        edges: dict[tuple[Node, Node, str], dict[str, Any]] = {}

        def around(node: Node) -> list[Node]:
            found = []
            for u, v, key, data in [
                *self.g.out_edges(node, keys=True, data=True),
                *self.g.in_edges(node, keys=True, data=True),
            ]:
                edges[(u, v, key)] = data
                found.append(v if u == node else u)
            return found

        def withdrawn(node: Node) -> bool:
            return node[0] == "Alert" and self.g.nodes[node].get("detection_status") == "withdrawn"

        for s in wanted:
            for n in around(s):
                if n[0] in ("Seizure", "Alert"):
                    around(n)
        for u, v, key in [k for k in edges if withdrawn(k[0]) or withdrawn(k[1])]:
            del edges[(u, v, key)]
        return [
            {
                "type": data["type"],
                "start_label": u[0],
                "start_key": u[1],
                "end_label": v[0],
                "end_key": v[1],
                "made_by": data.get("event_id") or data.get("alert_id") or data.get("step_id"),
                "retracted": bool(data.get("retracted")),
            }
            for (u, v, _), data in edges.items()
        ]

    def shipment_entities(
        self, since: datetime, until: datetime, cap: int = 500_000
    ) -> list[ShipmentEntities]:
        check_window(since, until)
        found = []
        for node, props in self.g.nodes(data=True):
            declared = props.get("declared_at")
            if node[0] != "Shipment" or declared is None or not _in(declared, since, until):
                continue
            decl = props["declaration_event_id"]
            entities = sorted(
                {
                    (KIND_OF_LABEL[e[0]], e[1])
                    for _, e, data in self.g.out_edges(node, data=True)
                    if data["type"] in ("SHIPPED_BY", "CONSIGNED_TO", "CARRIED_BY", "DRIVEN_BY")
                    and data["event_id"] == decl
                }
            )
            if not entities:
                continue
            seizures = alerts = 0
            for source, _, data in self.g.in_edges(node, data=True):
                if data["type"] == "SEIZED_FROM" and not self.g.nodes[source].get("retracted"):
                    seizures += 1
                if (
                    data["type"] == "FLAGS"
                    and self.g.nodes[source].get("detection_status") == "open"
                ):
                    alerts += 1
            found.append(
                ShipmentEntities(
                    shipment_id=node[1],
                    event_id=decl,
                    entities=entities,
                    seizures=seizures,
                    alerts=alerts,
                )
            )
        found.sort(key=lambda r: r.shipment_id)
        return found[:cap]

    # -- alerts ---------------------------------------------------------------------------
    def _alert_props(self, node: Node) -> dict[str, Any]:
        props = self.g.nodes[node]
        keys = (
            "rule", "severity", "raised_at", "explanation_vi", "explanation_en",
            "evidence_event_ids", "shipment_id", "localities", "revision",
        )  # fmt: skip
        return {
            "alert_id": node[1],
            "status": props.get("detection_status") or "open",
            **{k: props[k] for k in keys},
            "case_status": props.get("case_status") or "new",
            "assigned_to": props.get("assigned_to"),
        }

    def _alert_nodes(self) -> Iterable[Node]:
        """Alerts detection wrote (a case step can make a bare one first)."""
        return (n for n, p in self.g.nodes(data=True) if n[0] == "Alert" and "revision" in p)

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
        check_window(since, until)
        check_page(limit, offset)
        check_case_status(case_status)
        found = []
        for node in self._alert_nodes():
            a = self._alert_props(node)
            if (
                (status is not None and a["status"] != status)
                or (case_status is not None and a["case_status"] != case_status)
                or (locality is not None and not _for_locality(a, locality))
                or (rule is not None and a["rule"] != rule)
                or (since is not None and a["raised_at"] < since)
                or (until is not None and a["raised_at"] >= until)
            ):
                continue
            found.append(AlertRecord(**a))
        found.sort(key=lambda a: a.alert_id)
        found.sort(key=lambda a: a.raised_at, reverse=True)
        return found[offset : offset + limit]

    def alert(self, alert_id: str) -> AlertDetail:
        node = ("Alert", alert_id)
        if node not in self.g or "revision" not in self.g.nodes[node]:
            raise NotFound(f"alert {alert_id} is not in the graph")
        props = {
            **self._alert_props(node),
            "evidence": self.g.nodes[node].get("evidence"),
            "severity_factors": self.g.nodes[node].get("severity_factors"),
            "case_outcome": self.g.nodes[node].get("case_outcome"),
        }
        steps = sorted(
            (
                {"step_id": c[1], **{k: self.g.nodes[c][k] for k in CASE_STEP_FIELDS}}
                for c, _, data in self.g.in_edges(node, data=True)
                if data["type"] == "ON"
            ),
            key=lambda step: (step["at"], step["step_id"]),
        )
        recorded = set()
        for fact in alert_facts(props):
            s = ("Shipment", fact["shipment_id"])
            in_graph = s in self.g and any(
                data.get("event_id") == fact["event_id"]
                for _, _, data in self.g.out_edges(s, data=True)
            )
            if in_graph or fact["event_id"] in self.graph.seizure_events:
                recorded.add(fact["event_id"])
        return alert_detail(props, recorded, steps)

    def outcomes(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        locality: str | None = None,
    ) -> list[RuleOutcomes]:
        check_window(since, until)
        counts: Counter[tuple[str, str]] = Counter()
        for node in self._alert_nodes():
            a = self.g.nodes[node]
            if a.get("case_status") != "closed":
                continue
            if (since is not None and a["case_at"] < since) or (
                until is not None and a["case_at"] >= until
            ):
                continue
            if locality is not None and not _for_locality(a, locality):
                continue
            counts[(a["rule"], a["case_outcome"])] += 1
        return rule_outcomes(
            [{"rule": r, "outcome": o, "alerts": n} for (r, o), n in counts.items()]
        )

    # -- the entity graph -------------------------------------------------------------------
    def _start(self, kind: str, key: str) -> Node:
        check_kind(kind)
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
        check_hops(hops, limit)
        start = self._start(kind, key)
        return walk(kind, key, start, hops, limit, self._expand)

    def connection(
        self,
        a: tuple[EntityKind, str],
        b: tuple[EntityKind, str],
        max_hops: int = 6,
        limit: int = 20,
    ) -> list[ConnectionPath]:
        check_max_hops(max_hops, limit)
        start, goal = self._start(*a), self._start(*b)
        check_different(start, goal)
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
