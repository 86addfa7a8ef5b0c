"""Rings and brokers: networkx analytics on the parties, vehicles and drivers that shipments
tie together. Pure: it takes rows exported from either graph backend
(:meth:`graph.queries.Neo4jQueries.shipment_entities`) and returns a ranked report.

Two entities are tied when they appear on the same declaration (a shipper and the truck
that carried its goods, a consignee and the driver); the tie's weight is how many
shipments they shared. Rings are the communities of that graph (Louvain, seeded, so a run
is repeatable), ranked by the seizures and open alerts of their shipments; brokers are the
entities most between rings (betweenness centrality, sampled on large graphs).

Example:
    >>> report = find_rings(queries.shipment_entities(since, until))  # doctest: +SKIP
    >>> report.rings[0].members[0].entity  # doctest: +SKIP
    'vehicle:29C-12345'
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from itertools import combinations

import networkx as nx
from pydantic import BaseModel, ConfigDict

from graph.results import ShipmentEntities

SEIZURE_WEIGHT = 10  # a seized shipment weighs this many open alerts in a ring's score
BETWEENNESS_SAMPLE = 400  # nodes sampled for betweenness on graphs larger than this


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class RingMember(_Model):
    entity: str  # "kind:id"
    betweenness: float
    shipments: list[str]  # the shipments tying it to the ring's other members
    event_ids: list[str]  # their declarations: the evidence


class Ring(_Model):
    rank: int
    score: int
    size: int
    shipments: int
    seized_shipments: int
    alerted_shipments: int
    members: list[RingMember]  # most central first


class Broker(_Model):
    entity: str
    betweenness: float
    rings: list[int]  # ranks of the rings it touches


class RingReport(_Model):
    entities: int
    ties: int
    rings: list[Ring]
    brokers: list[Broker]


def _name(entity: tuple[str, str]) -> str:
    return f"{entity[0]}:{entity[1]}"


def find_rings(
    rows: Iterable[ShipmentEntities], min_size: int = 3, top_brokers: int = 20, seed: int = 7
) -> RingReport:
    """Rings of at least ``min_size`` entities, best first, and the ``top_brokers``."""
    graph = nx.Graph()
    shipments_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    declaration: dict[str, str] = {}
    seized: set[str] = set()
    alerted: set[str] = set()
    for row in sorted(rows, key=lambda r: r.shipment_id):  # one graph whatever the order
        entities = sorted({(kind, key) for kind, key in row.entities})
        declaration[row.shipment_id] = row.event_id
        if row.seizures:
            seized.add(row.shipment_id)
        if row.alerts:
            alerted.add(row.shipment_id)
        for entity in entities:
            graph.add_node(entity)
            shipments_of[entity].add(row.shipment_id)
        for a, b in combinations(entities, 2):
            if graph.has_edge(a, b):
                graph[a][b]["weight"] += 1
            else:
                graph.add_edge(a, b, weight=1)
    if graph.number_of_nodes() == 0:
        return RingReport(entities=0, ties=0, rings=[], brokers=[])
    communities = nx.community.louvain_communities(graph, weight="weight", seed=seed)
    sample = BETWEENNESS_SAMPLE if graph.number_of_nodes() > BETWEENNESS_SAMPLE else None
    betweenness = nx.betweenness_centrality(graph, k=sample, seed=seed)

    candidates = []
    for community in communities:
        if len(community) < min_size:
            continue
        inside = set(community)
        members = []
        ring_shipments: set[str] = set()
        for entity in inside:
            tying = sorted(
                sid
                for sid in shipments_of[entity]
                if any(other in inside for other in graph.neighbors(entity))
            )
            ring_shipments |= set(tying)
            members.append((entity, tying))
        n_seized = len(ring_shipments & seized)
        n_alerted = len(ring_shipments & alerted)
        score = SEIZURE_WEIGHT * n_seized + n_alerted
        members.sort(key=lambda m: (-betweenness[m[0]], m[0]))
        candidates.append(
            (score, len(inside), sorted(inside), members, ring_shipments, n_seized, n_alerted)
        )
    candidates.sort(key=lambda c: (-c[0], -c[1], c[2]))

    rings = []
    ring_of: dict[tuple[str, str], int] = {}
    for rank, (score, size, _, members, ring_shipments, n_seized, n_alerted) in enumerate(
        candidates, start=1
    ):
        for entity, _ in members:
            ring_of[entity] = rank
        rings.append(
            Ring(
                rank=rank,
                score=score,
                size=size,
                shipments=len(ring_shipments),
                seized_shipments=n_seized,
                alerted_shipments=n_alerted,
                members=[
                    RingMember(
                        entity=_name(entity),
                        betweenness=round(betweenness[entity], 6),
                        shipments=tying,
                        event_ids=sorted(declaration[sid] for sid in tying),
                    )
                    for entity, tying in members
                ],
            )
        )
    brokers = []
    for entity in sorted(graph.nodes, key=lambda e: (-betweenness[e], e)):
        touched = sorted({ring_of[n] for n in [entity, *graph.neighbors(entity)] if n in ring_of})
        if len(touched) >= 2:
            brokers.append(
                Broker(
                    entity=_name(entity), betweenness=round(betweenness[entity], 6), rings=touched
                )
            )
        if len(brokers) >= top_brokers:
            break
    return RingReport(
        entities=graph.number_of_nodes(), ties=graph.number_of_edges(), rings=rings, brokers=brokers
    )
