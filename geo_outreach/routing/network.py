"""Street networks from any OSM .osm.pbf: a walking and a driving profile, cached on disk.

A network is a directed graph of OSM nodes with travel seconds on its edges (scipy CSR), so the
hot paths (snapping, travel-time matrices, leg geometry) run in C, never in per-edge Python loops.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import osmium
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from geo_outreach.core.errors import GeoOutreachError

Profile = Literal["walk", "drive"]
CACHE_VERSION = 2  # bump when the way a network is built changes

WALK_SPEED_MS = 4.8 / 3.6
# Footways, paths and streets people walk; motorways and trunks are not for walking.
WALK_HIGHWAYS = {
    "footway": 1.0, "path": 1.0, "pedestrian": 1.0, "living_street": 1.0, "residential": 1.0,
    "service": 1.0, "unclassified": 1.0, "tertiary": 1.0, "secondary": 1.0, "primary": 1.0,
    "tertiary_link": 1.0, "secondary_link": 1.0, "primary_link": 1.0, "track": 0.9,
    "cycleway": 1.0, "corridor": 1.0, "platform": 1.0, "bridleway": 0.9, "crossing": 1.0,
    "steps": 0.5,  # slower per metre than level ground
}  # fmt: skip
# Urban driving speeds per class, km/h (a maxspeed tag lowers them, never raises them).
DRIVE_KMH = {
    "motorway": 90, "trunk": 70, "primary": 45, "secondary": 40, "tertiary": 35,
    "unclassified": 30, "residential": 25, "living_street": 10, "service": 12,
    "motorway_link": 50, "trunk_link": 40, "primary_link": 35, "secondary_link": 30,
    "tertiary_link": 25,
}  # fmt: skip
NO = {"no", "private"}


@dataclass(frozen=True)
class Network:
    """A contracted street graph: junctions only, each edge a chain of OSM nodes.

    Chains of through-nodes (two neighbours, one way or both ways) become single edges, which
    makes Dijkstra about three times faster on OSM footway networks; the chains are kept so that
    points can be attached anywhere along them and routes drawn node by node.
    """

    profile: Profile
    lon: NDArray[np.float64]  # every OSM node kept (junctions and chain nodes)
    lat: NDArray[np.float64]
    main: NDArray[np.bool_]  # nodes of the largest strongly connected component
    junction: NDArray[np.int64]  # junction index -> node
    graph: csr_matrix  # junction x junction travel seconds (fastest chain)
    edge_of: csr_matrix  # junction x junction -> chain id + 1 of that fastest chain
    chain_ptr: NDArray[np.int64]  # chain c spans chain_node[chain_ptr[c]:chain_ptr[c + 1]]
    chain_node: NDArray[np.int64]
    chain_sec: NDArray[np.float64]  # cumulative seconds from the chain's first node
    chain_met: NDArray[np.float64]  # cumulative metres

    @property
    def num_nodes(self) -> int:
        return int(self.junction.size)

    @property
    def num_edges(self) -> int:
        return int(self.graph.nnz)


def _allowed(tags: osmium.osm.TagList, profile: Profile) -> tuple[float, int] | None:
    """Speed (m/s) and direction (1 forward, -1 backward, 0 both) of a way, or None."""
    highway = tags.get("highway")
    if highway is None or tags.get("area") == "yes":
        return None
    access = tags.get("access")
    if profile == "walk":
        factor = WALK_HIGHWAYS.get(highway)
        foot = tags.get("foot")
        if factor is None or foot in NO or (access in NO and foot not in ("yes", "designated")):
            return None
        return WALK_SPEED_MS * factor, 0
    kmh = DRIVE_KMH.get(highway)
    motor = tags.get("motor_vehicle") or tags.get("motorcar")
    if kmh is None or motor in NO or (access in NO and motor not in ("yes", "destination")):
        return None
    maxspeed = tags.get("maxspeed") or ""
    if maxspeed.isdigit():
        kmh = min(kmh, int(maxspeed))
    oneway = tags.get("oneway")
    direction = 0
    if oneway in ("yes", "true", "1") or tags.get("junction") in ("roundabout", "circular"):
        direction = 1
    elif oneway == "-1":
        direction = -1
    return kmh / 3.6, direction


def _haversine(lon1: NDArray, lat1: NDArray, lon2: NDArray, lat2: NDArray) -> NDArray:
    r = 6_371_008.8
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dlmb = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * r * np.arcsin(np.sqrt(a))


@dataclass(frozen=True)
class RawGraph:
    """The uncontracted graph: every OSM node, every segment (for checks and comparisons)."""

    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    graph: csr_matrix  # seconds
    length: csr_matrix  # metres
    main: NDArray[np.bool_]


def raw_graph(pbf: Path, profile: Profile) -> RawGraph:
    ids: list[NDArray[np.int64]] = []
    lons: list[NDArray[np.float64]] = []
    lats: list[NDArray[np.float64]] = []
    speeds: list[float] = []
    directions: list[int] = []
    processor = osmium.FileProcessor(str(pbf), osmium.osm.NODE | osmium.osm.WAY).with_locations()
    for way in processor:
        if not isinstance(way, osmium.osm.Way):
            continue
        rule = _allowed(way.tags, profile)
        if rule is None or len(way.nodes) < 2:
            continue
        nodes = [(n.ref, n.lon, n.lat) for n in way.nodes if n.location.valid()]
        if len(nodes) < 2:
            continue
        arr = np.array(nodes)
        ids.append(arr[:, 0].astype(np.int64))
        lons.append(arr[:, 1])
        lats.append(arr[:, 2])
        speeds.append(rule[0])
        directions.append(rule[1])
    if not ids:
        msg = f"{pbf}: no ways usable for the {profile} profile"
        raise GeoOutreachError(msg)
    sizes = np.array([a.size for a in ids])
    all_ids = np.concatenate(ids)
    all_lon = np.concatenate(lons)
    all_lat = np.concatenate(lats)
    uniq, first, index = np.unique(all_ids, return_index=True, return_inverse=True)
    # Consecutive vertices of the same way form an edge.
    last_of_way = np.cumsum(sizes) - 1
    tail = np.setdiff1d(np.arange(all_ids.size - 1), last_of_way)
    head = tail + 1
    way_of = np.repeat(np.arange(sizes.size), sizes)[tail]
    metres = _haversine(all_lon[tail], all_lat[tail], all_lon[head], all_lat[head])
    seconds = metres / np.asarray(speeds)[way_of]
    direction = np.asarray(directions)[way_of]
    u, v = index[tail], index[head]
    fwd = direction >= 0
    bwd = direction <= 0
    src = np.concatenate([u[fwd], v[bwd]])
    dst = np.concatenate([v[fwd], u[bwd]])
    sec = np.concatenate([seconds[fwd], seconds[bwd]])
    met = np.concatenate([metres[fwd], metres[bwd]])
    keep = src != dst
    src, dst, sec, met = src[keep], dst[keep], sec[keep], met[keep]
    # Parallel edges: keep the fastest (a CSR built from duplicates would add them up).
    order = np.lexsort((sec, dst, src))
    src, dst, sec, met = src[order], dst[order], sec[order], met[order]
    first_of_pair = np.ones(src.size, dtype=bool)
    first_of_pair[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
    src, dst = src[first_of_pair], dst[first_of_pair]
    sec, met = sec[first_of_pair], met[first_of_pair]
    n = uniq.size
    graph = csr_matrix((np.maximum(sec, 1e-3), (src, dst)), shape=(n, n))
    length = csr_matrix((np.maximum(met, 1e-3), (src, dst)), shape=(n, n))
    _, labels = connected_components(graph, directed=True, connection="strong")
    main = labels == np.bincount(labels).argmax()
    return RawGraph(all_lon[first], all_lat[first], graph, length, main)


def _contract(
    profile: Profile,
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    graph: csr_matrix,
    length: csr_matrix,
    main: NDArray[np.bool_],
) -> Network:
    """Replace chains of through-nodes by single edges (runs once per extract, then cached)."""
    n = lon.size
    out_deg = np.diff(graph.indptr)
    in_deg = np.diff(graph.tocsc().indptr)
    both = graph + graph.T
    neighbours = np.diff(both.tocsr().indptr)
    # A through-node has two neighbours and passes traffic straight on: both ways on both
    # sides (a two-way street) or one in, one out (a one-way street).
    through = (neighbours == 2) & (
        ((out_deg == 2) & (in_deg == 2)) | ((out_deg == 1) & (in_deg == 1))
    )
    # A ring made only of through-nodes has no junction to start from: promote one node.
    inner = both.tocsr()[through][:, through]
    _, ring_of = connected_components(inner, directed=False)
    labels = np.full(n, -1)
    labels[through] = ring_of
    coo = both.tocoo()
    touches = np.zeros(ring_of.max() + 1 if ring_of.size else 0, dtype=bool)
    edge_to_junction = through[coo.row] & ~through[coo.col]
    touches[labels[coo.row[edge_to_junction]]] = True
    lonely = np.flatnonzero(~touches)
    if lonely.size:
        members = np.flatnonzero(through)
        first_of = np.full(touches.size, n)
        np.minimum.at(first_of, ring_of, members)
        through[first_of[lonely]] = False
    junction = np.flatnonzero(~through)
    jidx = np.full(n, -1, dtype=np.int64)
    jidx[junction] = np.arange(junction.size)
    indptr, indices, sec, met = graph.indptr, graph.indices, graph.data, length.data
    chain_nodes: list[int] = []
    chain_sec: list[float] = []
    chain_met: list[float] = []
    ptr = [0]
    src: list[int] = []
    dst: list[int] = []
    total: list[float] = []
    for j in junction.tolist():
        for k in range(indptr[j], indptr[j + 1]):
            prev, node = j, int(indices[k])
            nodes, secs, mets = [j, node], [0.0, float(sec[k])], [0.0, float(met[k])]
            while through[node]:
                lo, hi = indptr[node], indptr[node + 1]
                nxt = -1
                for m in range(lo, hi):
                    if indices[m] != prev:
                        nxt = m
                        break
                if nxt < 0:
                    break
                prev, node = node, int(indices[nxt])
                nodes.append(node)
                secs.append(secs[-1] + float(sec[nxt]))
                mets.append(mets[-1] + float(met[nxt]))
            if through[node]:
                continue  # a ring of through-nodes only: no junction to attach it to
            chain_nodes.extend(nodes)
            chain_sec.extend(secs)
            chain_met.extend(mets)
            ptr.append(len(chain_nodes))
            src.append(int(jidx[j]))
            dst.append(int(jidx[node]))
            total.append(secs[-1])
    src_a, dst_a, total_a = np.array(src), np.array(dst), np.array(total)
    ids = np.arange(src_a.size)
    order = np.lexsort((total_a, dst_a, src_a))
    keep = np.ones(order.size, dtype=bool)
    s_, d_ = src_a[order], dst_a[order]
    keep[1:] = (s_[1:] != s_[:-1]) | (d_[1:] != d_[:-1])
    best = order[keep]
    best = best[src_a[best] != dst_a[best]]
    size = junction.size
    contracted = csr_matrix(
        (np.maximum(total_a[best], 1e-3), (src_a[best], dst_a[best])), shape=(size, size)
    )
    edge_of = csr_matrix(
        ((ids[best] + 1).astype(np.float64), (src_a[best], dst_a[best])), shape=(size, size)
    )
    return Network(
        profile=profile,
        lon=lon,
        lat=lat,
        main=main,
        junction=junction,
        graph=contracted,
        edge_of=edge_of,
        chain_ptr=np.array(ptr, dtype=np.int64),
        chain_node=np.array(chain_nodes, dtype=np.int64),
        chain_sec=np.array(chain_sec),
        chain_met=np.array(chain_met),
    )


def _cache_path(pbf: Path, profile: Profile, cache_dir: Path) -> Path:
    with pbf.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()[:16]
    return cache_dir / f"network-{profile}-{digest}-v{CACHE_VERSION}.npz"


_ARRAYS = ("lon", "lat", "main", "junction", "chain_ptr", "chain_node", "chain_sec", "chain_met")


def load_network(pbf: Path, profile: Profile, *, cache_dir: Path | None = None) -> Network:
    """Build the network from the extract, or read it from the cache if the extract is unchanged."""
    if not pbf.is_file():
        msg = f"OSM extract not found: {pbf}"
        raise GeoOutreachError(msg)
    if profile not in ("walk", "drive"):
        msg = f"unknown network profile '{profile}'; use walk or drive"
        raise GeoOutreachError(msg)
    cache = _cache_path(pbf, profile, cache_dir) if cache_dir else None
    if cache is not None and cache.exists():
        try:
            with np.load(cache) as z:
                size = z["junction"].size
                shape = (size, size)
                return Network(
                    profile=profile,
                    graph=csr_matrix((z["g_data"], z["g_indices"], z["g_indptr"]), shape=shape),
                    edge_of=csr_matrix((z["e_data"], z["g_indices"], z["g_indptr"]), shape=shape),
                    **{name: z[name] for name in _ARRAYS},
                )
        except (OSError, ValueError, KeyError):
            cache.unlink(missing_ok=True)  # a damaged cache is rebuilt, never trusted
    raw = raw_graph(pbf, profile)
    net = _contract(profile, raw.lon, raw.lat, raw.graph, raw.length, raw.main)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        # Each writer its own temporary file: two builds at once never mix their bytes.
        fd, name = tempfile.mkstemp(dir=cache.parent, suffix=".npz")
        os.close(fd)
        tmp = Path(name)
        np.savez(
            tmp,
            g_data=net.graph.data,
            g_indices=net.graph.indices,
            g_indptr=net.graph.indptr,
            e_data=net.edge_of.data,
            **{name: getattr(net, name) for name in _ARRAYS},
        )
        tmp.replace(cache)  # atomic: a half-written cache is never read
    return net


@dataclass(frozen=True)
class Snap:
    node: NDArray[np.int64]  # nearest OSM node of the main component
    metres: NDArray[np.float64]  # straight-line distance to it


def snap(net: Network, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> Snap:
    """Nearest node of the main component for each point (local equirectangular metres)."""
    lat0 = math.radians(float(np.mean(net.lat)))
    kx, ky = 111_320.0 * math.cos(lat0), 110_540.0
    # Only nodes that lie on a chain or are junctions can be attached to.
    on_graph = np.zeros(net.lon.size, dtype=bool)
    on_graph[net.chain_node] = True
    candidates = np.flatnonzero(net.main & on_graph)
    tree = cKDTree(np.column_stack([net.lon[candidates] * kx, net.lat[candidates] * ky]))
    dist, idx = tree.query(np.column_stack([np.asarray(lon) * kx, np.asarray(lat) * ky]))
    return Snap(candidates[idx].astype(np.int64), np.asarray(dist, dtype=np.float64))


@dataclass(frozen=True)
class Matrix:
    """Travel seconds between points, and what is needed to draw any leg along the streets."""

    seconds: NDArray[np.float64]  # [i, j] from point i to point j (inf: no path)
    net: Network
    graph_node: NDArray[np.int64]  # point -> node of the pruned graph Dijkstra ran on
    graph_osm: NDArray[np.int64]  # pruned-graph node -> OSM node
    predecessors: NDArray[np.int32]  # per distinct source, in the pruned graph's numbering
    pred_row: NDArray[np.int64]  # point -> row of `predecessors`
    kept: NDArray[np.int64]  # pruned-graph node -> augmented-graph node
    pieces: dict[tuple[int, int], tuple[int, int, int]]  # extra edge -> (chain, from, to)
    # Same cost both ways on every edge: a leg whose source row was not searched far enough is
    # the reverse of the leg the other way (pred_row is -1 where a source was not searched).
    symmetric: bool = False


def travel_matrix(
    net: Network,
    nodes: NDArray[np.int64],
    *,
    sources: int | None = None,
    budget: float | None = None,
    stay: NDArray[np.float64] | None = None,
) -> Matrix:
    """Travel seconds between OSM nodes: one C Dijkstra per distinct source node.

    Rows are the first `sources` nodes (all by default), columns all nodes. Nodes inside chains
    get a graph node of their own, spliced into their chains, so that a point is reached where
    it is, not at the chain's far junction.

    With `budget`, point 0 is the base every round trip starts from and returns to, and
    `stay[k]` the seconds spent at point k. Only legs that some round trip of at most `budget`
    seconds could use are then needed: [i, j] is exact whenever
    ``d(0, i) + stay[i] + d(i, j) + stay[j] + d(j, 0) <= budget``; any other entry is either
    exact or inf, never another value. Each search stops at the farthest leg it still needs,
    which on a walking network saves about two thirds of the work for a three-hour shift.
    """
    size = net.junction.size
    jidx = np.full(net.lon.size, -1, dtype=np.int64)
    jidx[net.junction] = np.arange(size)
    uniq, inverse = np.unique(nodes, return_inverse=True)
    graph_of = jidx[uniq]
    inner = np.flatnonzero(graph_of < 0)
    graph_of[inner] = size + np.arange(inner.size)
    # Where each inner node sits: every (chain, position) holding it, except chain ends.
    pos = np.flatnonzero(np.isin(net.chain_node, uniq[inner]))
    chain = np.searchsorted(net.chain_ptr, pos, side="right") - 1
    interior = (pos != net.chain_ptr[chain]) & (pos != net.chain_ptr[chain + 1] - 1)
    pos, chain = pos[interior], chain[interior]
    src: list[int] = []
    dst: list[int] = []
    cost: list[float] = []
    pieces: dict[tuple[int, int], tuple[int, int, int]] = {}
    piece_cost: dict[tuple[int, int], float] = {}
    node_graph = dict(zip(uniq.tolist(), graph_of.tolist(), strict=True))
    order = np.lexsort((pos, chain))
    for c in np.unique(chain):
        at = pos[order][chain[order] == c]
        start, stop = int(net.chain_ptr[c]), int(net.chain_ptr[c + 1]) - 1
        cuts = [start, *at.tolist(), stop]
        for a, b in itertools.pairwise(cuts):
            u = _graph_node(net, a, start, stop, jidx, node_graph)
            v = _graph_node(net, b, start, stop, jidx, node_graph)
            src.append(u)
            dst.append(v)
            piece = max(float(net.chain_sec[b] - net.chain_sec[a]), 1e-3)
            cost.append(piece)
            # A loop out of one junction gives the same (u, v) both ways round: keep the shorter.
            if (u, v) not in pieces or piece < piece_cost[(u, v)]:
                pieces[(u, v)] = (int(c), a, b)
                piece_cost[(u, v)] = piece
    total = size + inner.size
    base = net.graph.tocoo()
    graph = _min_duplicates(
        np.concatenate([base.row, np.array(src, dtype=np.int64)]),
        np.concatenate([base.col, np.array(dst, dtype=np.int64)]),
        np.concatenate([base.data, np.array(cost)]),
        (total, total),
    )
    keep = _without_dead_ends(graph, graph_of)
    sub = graph[keep][:, keep]
    local = np.cumsum(keep) - 1  # augmented node -> node of the pruned graph
    point_node = local[graph_of[inverse]]
    symmetric = False
    if budget is None:
        rows = inverse if sources is None else inverse[:sources]
        wanted = np.unique(rows)  # indices into uniq that are sources
        dist_sub, pred_sub = dijkstra(
            sub, directed=True, indices=local[graph_of[wanted]], return_predecessors=True
        )
        row_of = np.searchsorted(wanted, rows)
        seconds = dist_sub[row_of][:, point_node]
    else:
        if sources is not None or stay is None or np.shape(stay) != np.shape(nodes):
            msg = "a budgeted matrix needs one stay per point and every point as a source"
            raise GeoOutreachError(msg)
        symmetric = _symmetric(sub)
        seconds, pred_sub, row_of = _round_trip_legs(
            sub, point_node, budget=budget, stay=np.asarray(stay, dtype=np.float64),
            symmetric=symmetric,
        )  # fmt: skip
    # Paths are read in the pruned graph's numbering; `kept` maps them back.
    return Matrix(
        seconds=seconds,
        net=net,
        graph_node=point_node,
        graph_osm=np.concatenate([net.junction, uniq[inner]])[keep],
        predecessors=pred_sub.astype(np.int32, copy=False),
        pred_row=row_of,
        kept=np.flatnonzero(keep),
        pieces=pieces,
        symmetric=symmetric,
    )


def _symmetric(graph: csr_matrix) -> bool:
    """Every edge also runs the other way at the same cost (a walking network)."""
    other = graph.T.tocsr()
    if graph.nnz != other.nnz:
        return False
    diff = abs(graph - other)
    return bool(diff.nnz == 0 or diff.max() <= 1e-9)


def _round_trip_legs(
    graph: csr_matrix,
    point_node: NDArray[np.int64],
    *,
    budget: float,
    stay: NDArray[np.float64],
    symmetric: bool,
) -> tuple[NDArray[np.float64], NDArray[np.int32], NDArray[np.int64]]:
    """The budgeted matrix of `travel_matrix`: seconds, predecessor rows, point -> row.

    A Dijkstra with a limit returns exact distances up to the limit and inf beyond it, so each
    source searches only as far as its farthest needed leg can be. Two bounds give that reach:
    the budget left after the base -> i and j -> base parts, and the detour through the base,
    d(i, j) <= d(i, 0) + d(0, j). On a symmetric graph the sources go in order of their own round
    trip and each one searches only for the points after it; the earlier rows hold the rest.
    """
    uniq, inv = np.unique(point_node, return_inverse=True)
    n = uniq.size
    stay_min = np.full(n, np.inf)
    np.minimum.at(stay_min, inv, stay)
    base = int(inv[0])
    out0, pred0 = dijkstra(
        graph, directed=True, indices=uniq[base], limit=budget, return_predecessors=True
    )
    back0 = out0 if symmetric else dijkstra(graph.T.tocsr(), directed=True, indices=uniq[base],
                                            limit=budget)  # fmt: skip
    head = out0[uniq] + stay_min  # earliest time a trip can leave each point
    tail = stay_min + back0[uniq]  # least time from arriving at each point to being home
    order = np.argsort(head + tail, kind="stable")
    order = np.concatenate([[base], order[order != base]])
    legs = np.full((n, n), np.inf)
    legs[base] = out0[uniq]
    legs[:, base] = back0[uniq]
    preds = [pred0]
    row = np.full(n, -1, dtype=np.int64)
    row[base] = 0
    everyone = np.arange(n)
    for at, u in enumerate(order[1:].tolist(), start=1):
        targets = order[at + 1 :] if symmetric else everyone[everyone != u]
        if targets.size == 0:
            continue
        allowance = budget - head[u] - tail[targets]
        reach = float(np.max(np.minimum(allowance, back0[uniq[u]] + out0[uniq[targets]])))
        if not reach >= 0:  # no leg out of this point fits any round trip
            continue
        dist, pred = dijkstra(
            graph,
            directed=True,
            indices=uniq[u],
            limit=reach * (1 + 1e-12) + 1e-9,  # the limit itself must stay in reach
            return_predecessors=True,
        )
        legs[u] = dist[uniq]
        row[u] = len(preds)
        preds.append(pred)
    if symmetric:
        legs = np.minimum(legs, legs.T)  # both are exact where finite
    np.fill_diagonal(legs, 0.0)
    return legs[inv][:, inv], np.vstack(preds), row[inv]


def _without_dead_ends(graph: csr_matrix, needed: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Nodes to keep: dead-end branches with no point on them never lie on a shortest path
    between points, so Dijkstra need not explore them (a quarter of a footway network)."""
    keep = np.ones(graph.shape[0], dtype=bool)
    pinned = np.zeros(graph.shape[0], dtype=bool)
    pinned[needed] = True
    sym = (graph + graph.T).tocsr()
    sym.data[:] = 1.0
    while True:
        degree = sym @ keep.astype(np.float64)  # neighbours still kept
        drop = keep & ~pinned & (degree <= 1)
        if not drop.any():
            return keep
        keep &= ~drop


def _graph_node(
    net: Network,
    position: int,
    start: int,
    stop: int,
    jidx: NDArray[np.int64],
    node_graph: dict[int, int],
) -> int:
    node = int(net.chain_node[position])
    if position in (start, stop):
        return int(jidx[node])
    return node_graph[node]


def _min_duplicates(
    row: NDArray[np.int64],
    col: NDArray[np.int64],
    data: NDArray[np.float64],
    shape: tuple[int, int],
) -> csr_matrix:
    """A CSR from triplets keeping the smallest of duplicates (scipy would add them up)."""
    order = np.lexsort((data, col, row))
    row, col, data = row[order], col[order], data[order]
    keep = np.ones(row.size, dtype=bool)
    keep[1:] = (row[1:] != row[:-1]) | (col[1:] != col[:-1])
    return csr_matrix((data[keep], (row[keep], col[keep])), shape=shape)


def leg_nodes(matrix: Matrix, i: int, j: int) -> list[int]:
    """OSM nodes along the fastest path from point i to point j, for drawing and checking."""
    net = matrix.net
    source = int(matrix.graph_node[i])
    found = _tree_path(matrix, i, j)
    if found is None and matrix.symmetric:
        back = _tree_path(matrix, j, i)
        found = None if back is None else back[::-1]
    if found is None:
        msg = f"no path between points {i} and {j}"
        raise GeoOutreachError(msg)
    hops = matrix.kept[found].tolist()  # back to the augmented graph's numbering
    size = net.junction.size
    out: list[int] = [int(matrix.graph_osm[source])]
    for u, v in itertools.pairwise(hops):
        if u >= size or v >= size:  # a piece of a chain cut at an inner point
            _, a, b = matrix.pieces[(u, v)]
            seq = net.chain_node[a : b + 1]
        else:
            c = int(net.edge_of[u, v]) - 1
            seq = net.chain_node[net.chain_ptr[c] : net.chain_ptr[c + 1]]
        out.extend(int(x) for x in seq[1:])
    return out


def _tree_path(matrix: Matrix, i: int, j: int) -> list[int] | None:
    """Pruned-graph nodes from point i to point j in i's shortest-path tree, if it reaches j."""
    row = int(matrix.pred_row[i])
    source, node = int(matrix.graph_node[i]), int(matrix.graph_node[j])
    if source == node:
        return [node]
    if row < 0:
        return None
    pred = matrix.predecessors[row]
    hops = [node]
    while node != source:
        node = int(pred[node])
        if node < 0:
            return None
        hops.append(node)
    hops.reverse()
    return hops


def path_metres(net: Network, nodes: list[int]) -> float:
    arr = np.asarray(nodes)
    if arr.size < 2:
        return 0.0
    lon, lat = net.lon[arr], net.lat[arr]
    return float(_haversine(lon[:-1], lat[:-1], lon[1:], lat[1:]).sum())
