"""Channel upgrade graphs: edges, heads, reachability and the replaces chain.

A channel entry points at the bundles it upgrades from: its ``replaces`` and its ``skips``.
opm reads the same graph in three places, with the same rules, and so does this engine:

* the model's ``Channel.Head`` (validation, the serving cache, deprecatetruncate): the head is
  the one entry no other entry points at;
* the model's replaces-chain check (cycles, stranded bundles);
* the sqlite graph loader behind ``checkForBundles`` after an add, which builds the graph from
  the bundles that exist only, and walks it from the head.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .model import ChannelEntry

__all__ = [
    "Adjacency",
    "adjacency",
    "channel_head",
    "entry_edges",
    "head_candidates",
    "reachable",
    "replaces_chain_error",
]

#: A channel's graph: each node and the nodes it upgrades from (replaces first, then skips).
Adjacency = dict[str, list[str]]


def entry_edges(entry: ChannelEntry) -> list[str]:
    """The bundles ``entry`` upgrades from: its ``replaces`` (when set), then its ``skips``."""
    return ([entry.replaces] if entry.replaces else []) + [s for s in entry.skips if s]


def adjacency(
    entries: Iterable[ChannelEntry], nodes: set[str] | None = None
) -> tuple[Adjacency, set[str]]:
    """The graph of ``entries`` and every edge target.

    With ``nodes``, only entries named there become nodes (opm's sqlite loader keeps only bundles
    that exist); their edges still count as targets. Duplicate edges are kept once, in order.
    """
    graph: Adjacency = {}
    targets: set[str] = set()
    for entry in entries:
        edges = entry_edges(entry)
        if nodes is None or entry.name in nodes:
            existing = graph.setdefault(entry.name, [])
            existing.extend(e for e in edges if e not in existing)
        targets.update(edges)
    return graph, targets


def head_candidates(graph: Mapping[str, object], targets: set[str]) -> list[str]:
    """Nodes no edge points at, sorted by name: exactly one of them is a valid head."""
    return sorted(name for name in graph if name not in targets)


def channel_head(entries: Mapping[str, ChannelEntry]) -> tuple[str | None, str | None]:
    """opm's ``Channel.Head``: ``(head, None)`` or ``(None, error message)``."""
    graph, targets = adjacency(entries.values())
    heads = head_candidates(graph, targets)
    if not heads:
        return None, "no channel head found in graph"
    if len(heads) > 1:
        return None, f"multiple channel heads found in graph: {', '.join(heads)}"
    return heads[0], None


def reachable(start: str, graph: Mapping[str, list[str]]) -> list[str]:
    """Every node reachable from ``start`` (itself first), breadth first."""
    seen: dict[str, None] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        if node in seen:
            continue
        seen[node] = None
        queue.extend(graph.get(node, ()))
    return list(seen)


def replaces_chain_error(entries: Mapping[str, ChannelEntry]) -> str | None:
    """opm's ``validateReplacesChain``: a cycle or stranded bundles, as opm words them."""
    head, err = channel_head(entries)
    if head is None:
        return err
    skipped: set[str] = set()
    for entry in entries.values():
        skipped.update(entry.skips)
    chain_from: dict[str, list[str]] = {}
    on_chain = {head}
    cur: ChannelEntry | None = entries[head]
    while cur is not None:
        chain_from.setdefault(cur.name, [cur.name])
        if cur.replaces in skipped:
            break
        for chain in chain_from.values():
            chain.append(cur.replaces)
        if cur.replaces in on_chain:
            return "detected cycle in replaces chain of upgrade graph: " + " -> ".join(
                chain_from[cur.replaces]
            )
        on_chain.add(cur.replaces)
        cur = entries.get(cur.replaces)
    stranded = sorted(set(entries) - on_chain - skipped)
    if stranded:
        return f"channel contains one or more stranded bundles: {', '.join(stranded)}"
    return None
