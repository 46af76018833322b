"""The greedy solver, with anonlink 0.15.3's ``greedy_solve`` semantics, and its reference.

Edges are processed in the order given (callers pass them best first). Each record belongs
to at most one group. For an edge between records ``x`` and ``y``:

* if neither is grouped, they form a new group;
* if exactly one is grouped and its group has a single member, the other joins it; if that
  group is larger, the other becomes a singleton group with one edge to it;
* if both are grouped in different groups, the edge is counted between the two groups, and
  the groups merge once the number of counted edges equals the product of their sizes
  (every pair of their records has been seen as a candidate);
* an edge from a record to itself, or within one group, changes nothing.

The result keeps only groups of two or more records. The partition does not depend on
which group absorbs which, so it is returned canonically: members sorted, groups sorted by
their first member.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from linkage.arrays import unique_sorted
from linkage.errors import InvalidInputError
from linkage.match import _lsh_kernels
from linkage.match._results import CandidateEdges, CandidatePairs, Node

__all__ = [
    "MatchGroups",
    "greedy_match",
    "greedy_solve",
    "greedy_solve_reference",
]

#: Groups of nodes; each group sorted, groups ordered by their first node.
MatchGroups = tuple[tuple[Node, ...], ...]


def _canonical_groups(groups: list[list[Node]]) -> MatchGroups:
    return tuple(sorted(tuple(sorted(g)) for g in groups if len(g) > 1))


def greedy_solve(edges: CandidateEdges) -> MatchGroups:
    """Greedy grouping of the edges' records, exactly as anonlink's ``greedy_solve``."""
    node_ids: dict[Node, int] = {}
    nodes: list[Node] = []
    group_of: list[int] = []  # node id -> group id, -1 when ungrouped
    members: dict[int, list[int]] = {}
    links: defaultdict[int, dict[int, int]] = defaultdict(dict)
    next_group = 0

    def node_id(node: Node) -> int:
        found = node_ids.get(node)
        if found is None:
            found = len(nodes)
            node_ids[node] = found
            nodes.append(node)
            group_of.append(-1)
        return found

    def new_group(*ids: int) -> int:
        nonlocal next_group
        gid = next_group
        next_group += 1
        members[gid] = list(ids)
        for i in ids:
            group_of[i] = gid
        return gid

    for d0, r0, d1, r1 in zip(
        edges.dataset_left.tolist(),
        edges.record_left.tolist(),
        edges.dataset_right.tolist(),
        edges.record_right.tolist(),
        strict=True,
    ):
        if d0 == d1 and r0 == r1:
            continue
        x = node_id((d0, r0))
        y = node_id((d1, r1))
        gx, gy = group_of[x], group_of[y]
        if gx < 0 and gy < 0:
            new_group(x, y)
            continue
        if gx < 0 or gy < 0:
            if gx >= 0:
                grouped, other = gx, y
            else:
                grouped, other = gy, x
            if len(members[grouped]) == 1:
                members[grouped].append(other)
                group_of[other] = grouped
            else:
                single = new_group(other)
                links[grouped][single] = 1
                links[single][grouped] = 1
            continue
        if gx == gy:
            continue
        count = links[gx].get(gy, 0) + 1
        links[gx][gy] = count
        links[gy][gx] = count
        if count < len(members[gx]) * len(members[gy]):
            continue
        absorber, absorbee = (gy, gx) if len(members[gx]) < len(members[gy]) else (gx, gy)
        for i in members[absorbee]:
            group_of[i] = absorber
        members[absorber].extend(members.pop(absorbee))
        absorber_links = links[absorber]
        absorber_links.pop(absorbee, None)
        for other_group, n in links.pop(absorbee, {}).items():
            if other_group == absorber:
                continue
            absorber_links[other_group] = absorber_links.get(other_group, 0) + n
            other_links = links[other_group]
            other_links[absorber] = other_links.get(absorber, 0) + n
            other_links.pop(absorbee, None)
        if not absorber_links:
            links.pop(absorber, None)

    return _canonical_groups([[nodes[i] for i in group] for group in members.values()])


def greedy_solve_reference(edges: CandidateEdges) -> MatchGroups:
    """Reference for :func:`greedy_solve`: anonlink's Python algorithm, line for line."""
    matches: dict[Node, list[Node]] = {}
    matchable: defaultdict[int, Counter[int]] = defaultdict(Counter)
    for _score, i0, i1 in edges.as_tuples():
        if i0 == i1:
            continue
        if i0 in matches and i1 in matches:
            m0, m1 = matches[i0], matches[i1]
            id0, id1 = id(m0), id(m1)
            if id0 == id1:
                continue
            overlap = matchable[id0][id1] + 1
            if overlap >= len(m0) * len(m1):
                if len(m0) < len(m1):
                    id0, id1, m0, m1 = id1, id0, m1, m0
                m0.extend(m1)
                matches.update(dict.fromkeys(m1, m0))
                del matchable[id0][id1]  # Counter: deleting a missing key is allowed
                del matchable[id1][id0]
                for j_id, j_count in matchable[id1].items():
                    matchable[id0][j_id] += j_count
                    matchable[j_id][id0] += j_count
                    del matchable[j_id][id1]
                del matchable[id1]
                if not matchable[id0]:
                    del matchable[id0]
            else:
                matchable[id0][id1] += 1
                matchable[id1][id0] += 1
            continue
        if i0 not in matches:
            i0, i1 = i1, i0
        if i0 in matches:
            m0 = matches[i0]
            if len(m0) == 1:
                m0.append(i1)
                matches[i1] = m0
            else:
                m1 = [i1]
                matches[i1] = m1
                matchable[id(m1)][id(m0)] = 1
                matchable[id(m0)][id(m1)] = 1
            continue
        matches[i0] = matches[i1] = [i0, i1]
    unique = {id(group): group for group in matches.values()}
    return _canonical_groups(list(unique.values()))


def greedy_match(pairs: CandidatePairs) -> CandidatePairs:
    """Two-party 1:1 matching: anonlink's greedy on the pairs as edges between two datasets.

    On distinct two-party edges anonlink's algorithm keeps an edge exactly when neither of
    its records is matched yet (merging a pair with anything would need an edge within one
    side), so this runs as one linear pass in numba. Pairs are processed in the order given
    (the joins give them best first) and must be distinct. Returns the matched pairs (each
    left and each right record at most once) with their scores, in canonical order.
    """
    n = len(pairs)
    if n == 0:
        return CandidatePairs.empty()
    if int(pairs.left.min()) < 0 or int(pairs.right.min()) < 0:
        raise InvalidInputError("record indices must be non-negative")
    n_left = int(pairs.left.max()) + 1
    n_right = int(pairs.right.max()) + 1
    codes = pairs.left * n_right + pairs.right
    if unique_sorted(codes).shape[0] != n:
        raise InvalidInputError("pairs must be distinct")
    keep = np.zeros(n, dtype=np.bool_)
    _lsh_kernels.greedy_bipartite_kernel(pairs.left, pairs.right, n_left, n_right, keep)
    scores, left, right = pairs.scores[keep], pairs.left[keep], pairs.right[keep]
    order = np.lexsort((right, left, -scores))
    return CandidatePairs(scores[order], left[order], right[order])
