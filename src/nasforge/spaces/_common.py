"""Helpers several space families share: input dimensions, width scaling and the live
edges of a cell DAG."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..core import UserInputError


def spatial_dims(input_shape: Sequence[int], space: str) -> int:
    """1 for sequences ``(C, L)``, 2 for images ``(C, H, W)``; a clear error naming ``space`` otherwise."""
    if len(input_shape) not in (2, 3):
        raise UserInputError(
            f"space {space!r} needs inputs shaped (channels, length) or (channels, height, width); "
            f"got per-sample shape {tuple(input_shape)}"
        )
    return len(input_shape) - 1


def scaled(width: int, multiplier: float) -> int:
    """``width`` times the narrow-proxy ``multiplier``, rounded, at least 4."""
    return max(4, int(round(width * multiplier)))


def dag_edges(nodes: int) -> list[tuple[int, int]]:
    """All forward edges ``i->j`` of a DAG on ``nodes`` nodes, ordered by target."""
    return [(i, j) for j in range(1, nodes) for i in range(j)]


def live_edges(ops: Mapping[tuple[int, int], str], nodes: int) -> list[tuple[int, int]]:
    """The edges that can affect the output, in :func:`dag_edges` order: not 'none', fed from
    the input (node 0) and leading to the output (the last node). Builders drop the rest."""
    edges = [e for e in dag_edges(nodes) if ops[e] != "none"]
    fed, leads = {0}, {nodes - 1}
    for i, j in edges:  # by target: a node's inputs are settled before its outputs
        if i in fed:
            fed.add(j)
    for i, j in reversed(edges):
        if j in leads:
            leads.add(i)
    return [(i, j) for i, j in edges if i in fed and j in leads]
