"""The road network the simulator drives on: checkpoints joined along the national roads and
expressways into Hà Nội, weighted by road distance (networkx). Declared routes are
shortest paths on it; detours, loops and skipped gates are made from it too."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import networkx as nx

from schemas import CheckpointKind, Registry, load_registry

# Road segments between checkpoints, by corridor (approximate, from public road maps).
ROADS: tuple[tuple[str, str], ...] = (
    # QL1A Hữu Nghị - Lạng Sơn - Bắc Giang - Hà Nội, and the Lạng Sơn gates feeding it
    ("LS-HUUNGHI", "LS-DONGDANG"), ("LS-DONGDANG", "LS-DONGKINH"),
    ("LS-TANTHANH", "LS-DONGKINH"), ("LS-CHIMA", "LS-DONGKINH"),
    ("LS-DONGKINH", "LS-CHILANG"), ("LS-CHILANG", "BN-BACGIANG"),
    ("BN-BACGIANG", "BN-TUSON"), ("BN-TUSON", "HN-NINHHIEP"), ("HN-NINHHIEP", "HN-DONGXUAN"),
    # QL3 Cao Bằng - Bắc Kạn - Thái Nguyên - Hà Nội
    ("CB-TRALINH", "CB-TALUNG"), ("CB-TALUNG", "TN-BACKAN"), ("CB-TRALINH", "TN-BACKAN"),
    ("TN-BACKAN", "TN-THAINGUYEN"), ("TN-THAINGUYEN", "HN-NINHHIEP"),
    # CT05 Lào Cai - Yên Bái - Việt Trì - Nội Bài
    ("LC-MUONGKHUONG", "LC-KIMTHANH"), ("LC-KIMTHANH", "LC-YENBAI"),
    ("LC-YENBAI", "PT-VIETTRI"), ("PT-VIETTRI", "HN-DONGXUAN"),
    # Nội Bài airport: air cargo starts here; no road route passes through it
    ("HN-NOIBAI", "HN-DONGXUAN"),
    # QL18 Móng Cái - Hạ Long - Uông Bí - Bắc Ninh, QL18C Hoành Mô
    ("QN-MONGCAI", "QN-CAILAN"), ("QN-HOANHMO", "QN-CAILAN"), ("QN-CAILAN", "QN-UONGBI"),
    ("QN-UONGBI", "BN-BACGIANG"), ("QN-UONGBI", "HP-HAIDUONG"),
    # QL5 / CT04 Hải Phòng - Hải Dương - Hưng Yên - Hà Nội
    ("HP-LACHHUYEN", "HP-DINHVU"), ("HP-DINHVU", "HP-HAIDUONG"),
    ("HP-HAIDUONG", "HY-PHONOI"), ("HY-PHONOI", "HN-NINHHIEP"), ("HY-PHONOI", "HN-DONGXUAN"),
    # QL1A south to Ninh Bình
    ("HN-DONGXUAN", "NB-GIANKHAU"),
)  # fmt: skip

# Where goods end up: wholesale markets and the southern gateway.
DESTINATIONS = ("HN-DONGXUAN", "HN-NINHHIEP", "LS-DONGKINH", "NB-GIANKHAU")


@dataclass(frozen=True)
class Network:
    registry: Registry
    graph: nx.Graph
    entries: tuple[str, ...]  # border gates, ports, the airport
    inland: tuple[str, ...]  # inland stations and markets
    # Memos: the simulator asks the same few hundred questions millions of times.
    _routes: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict, repr=False)
    _km: dict[tuple[str, str], float] = field(default_factory=dict, repr=False)

    def route(self, start: str, end: str) -> list[str]:
        key = (start, end)
        path = self._routes.get(key)
        if path is None:
            path = self._routes[key] = tuple(nx.shortest_path(self.graph, start, end, weight="km"))
        return list(path)

    def km(self, a: str, b: str) -> float:
        key = (a, b)
        d = self._km.get(key)
        if d is None:
            d = self._km[key] = self.registry.road_distance_km(a, b)
        return d

    def has_weighbridge(self, checkpoint_id: str) -> bool:
        return self.registry.checkpoint(checkpoint_id).weighbridge

    def corridor(self, checkpoint_id: str) -> str:
        return self.registry.checkpoint(checkpoint_id).corridor


@cache
def road_network() -> Network:
    registry = load_registry()
    graph = nx.Graph()
    for a, b in ROADS:
        graph.add_edge(a, b, km=registry.road_distance_km(a, b))
    missing = set(registry.checkpoints) - set(graph.nodes)
    if missing:
        raise ValueError(f"checkpoints not on any road: {sorted(missing)}")
    entries = tuple(sorted(cp.id for cp in registry.checkpoints.values() if cp.kind.is_entry_point))
    inland = tuple(
        sorted(
            cp.id
            for cp in registry.checkpoints.values()
            if cp.kind in (CheckpointKind.INLAND_STATION, CheckpointKind.MARKET)
        )
    )
    return Network(registry, graph, entries, inland)
