"""The breadth-first walk of recursive-related-bundles (worker semantics §1.8, §6 item 5)."""

from __future__ import annotations

import pytest

from services.bundle_regenerator.recursive import MAX_EXCEEDED, walk_related_bundles
from services.common.errors import IIBError


class Graph:
    """Related bundles as plain data; records which bundles were looked at."""

    def __init__(self, edges: dict[str, list[str]]) -> None:
        self.edges = edges
        self.visited: list[str] = []

    def children(self, bundle: str) -> list[str]:
        self.visited.append(bundle)
        return list(self.edges.get(bundle, []))


def test_level_order_and_iibs_reversed_output() -> None:
    edges = {
        "bundle-image@sha256:abcdef": ["pullspec-1"],
        "pullspec-1": ["pullspec-2"],
    }
    graph = Graph(edges)

    found = walk_related_bundles("bundle-image@sha256:abcdef", graph.children, 15)

    assert found[::-1] == ["pullspec-2", "pullspec-1", "bundle-image@sha256:abcdef"]
    assert graph.visited == ["bundle-image@sha256:abcdef", "pullspec-1", "pullspec-2"]


def test_breadth_first_across_siblings() -> None:
    edges = {"p": ["a", "b"], "a": ["a1", "a2"], "b": ["b1"], "a1": [], "b1": ["x"]}
    graph = Graph(edges)

    found = walk_related_bundles("p", graph.children, 15)

    assert found == ["p", "a", "b", "a1", "a2", "b1", "x"]
    assert graph.visited == ["p", "a", "b", "a1", "a2", "b1", "x"]


def test_duplicates_are_kept() -> None:
    graph = Graph({"p": ["a", "b"], "a": ["c"], "b": ["c"]})
    assert walk_related_bundles("p", graph.children, 15) == ["p", "a", "b", "c", "c"]


def test_reaching_the_limit_fails() -> None:
    # 15 children in total is already too many (>=), 14 is fine
    graph = Graph({"p": [f"c{n}" for n in range(14)]})
    assert len(walk_related_bundles("p", graph.children, 15)) == 15
    graph = Graph({"p": [f"c{n}" for n in range(15)]})
    with pytest.raises(IIBError) as error:
        walk_related_bundles("p", graph.children, 15)
    assert (
        str(error.value)
        == MAX_EXCEEDED
        == ("Max number of related bundles exceeded. Potential DOS attack!")
    )


def test_a_cycle_ends_at_the_limit() -> None:
    graph = Graph({"loop": ["loop"]})
    with pytest.raises(IIBError, match="Potential DOS attack"):
        walk_related_bundles("loop", graph.children, 4)
    assert graph.visited == ["loop"] * 4


def test_the_check_runs_before_each_bundle() -> None:
    graph = Graph({"p": ["a"]})
    calls: list[int] = []
    walk_related_bundles("p", graph.children, 15, check=lambda: calls.append(1))
    assert len(calls) == 2
