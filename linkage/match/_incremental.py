"""Incremental linkage with stable link IDs: recompute only the affected components.

Why this is exact. Greedy processes edges best first, and its decision on an edge only
involves groups reachable through edges already processed. So the greedy partition
restricted to one connected component of the candidate graph (all edges with score at least
the threshold) depends only on that component's edges, in their global order. Adding or
withdrawing records changes only the components that contain them; recomputing those with
all of their edges gives exactly the partition a full rebuild would give.

The caller therefore passes, for the affected components: the current link ID of every
record in them, the records added and withdrawn, and *all* candidate edges among the
records that remain (including the new records' edges). :func:`update_links` recomputes each
component with a pluggable :class:`ComponentClusterer` (greedy by default), then carries
the old link IDs over deterministically:

* every new group overlapping old links is paired with an old ID by descending overlap, then
  ascending old ID, then ascending smallest member; each old ID is used at most once;
* groups left without an ID get fresh IDs from the caller's allocator, in the order of their
  smallest member.

Edges are normalised so that the smaller node (``(dataset, record)`` tuple order) comes
first, and processed in anonlink's order: score descending, then dataset indices, then
record indices.

The work is done on arrays, so that a rebuild (every record at once, most of them
singletons or in components of two) costs Python time only where a clusterer or an event
needs it: nodes become int64 codes in tuple order, components come from vectorised
hooking of roots, a component of a single edge is decided for all such components at once
by the clusterer's :class:`PairRule` when there is one (greedy's is built in), the other
components go to the clusterer one by one, and the old IDs are paired with groups by one
sort of the (group, old link) options, only options that compete for a group or a link
being taken one at a time. :func:`update_int_links` takes and gives the records as arrays.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeAlias, TypeVar, cast

import numpy as np
import numpy.typing as npt

from linkage.arrays import unique_counts, unique_inverse, unique_sorted
from linkage.errors import InvalidInputError
from linkage.match._greedy import greedy_solve
from linkage.match._results import CandidateEdges, Node
from linkage.types import Float64Array, Int64Array

__all__ = [
    "ComponentClusterer",
    "LinkCreated",
    "LinkDissolved",
    "LinkEvent",
    "LinkSplit",
    "LinkUpdate",
    "LinksMerged",
    "PairRule",
    "RecordsJoined",
    "RecordsWithdrawn",
    "canonical_edges",
    "connected_components",
    "greedy_pair_rule",
    "solve_components",
    "update_int_links",
    "update_links",
]

LinkId = TypeVar("LinkId", int, str)
BoolArray: TypeAlias = npt.NDArray[np.bool_]


class ComponentClusterer(Protocol):
    """Clusters one connected component: edges (canonical order) in, groups of 2+ out."""

    def __call__(self, edges: CandidateEdges, /) -> Sequence[Sequence[Node]]: ...


@dataclass(frozen=True, slots=True)
class LinkCreated(Generic[LinkId]):
    """A group got a fresh link ID; ``members`` are all of its records."""

    link_id: LinkId
    members: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class RecordsJoined(Generic[LinkId]):
    """Newly added records became members of an existing link."""

    link_id: LinkId
    records: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class LinksMerged(Generic[LinkId]):
    """Records of the links ``from_ids`` are now in link ``into_id`` (with its own)."""

    from_ids: tuple[LinkId, ...]
    into_id: LinkId


@dataclass(frozen=True, slots=True)
class LinkSplit(Generic[LinkId]):
    """The remaining records of link ``from_id`` are now spread over links ``into_ids``."""

    from_id: LinkId
    into_ids: tuple[LinkId, ...]


@dataclass(frozen=True, slots=True)
class LinkDissolved(Generic[LinkId]):
    """Link ``link_id`` no longer exists (its records are elsewhere or withdrawn)."""

    link_id: LinkId


@dataclass(frozen=True, slots=True)
class RecordsWithdrawn(Generic[LinkId]):
    """Records withdrawn from link ``link_id``."""

    link_id: LinkId
    records: tuple[Node, ...]


LinkEvent: TypeAlias = (
    LinkCreated[LinkId]
    | RecordsJoined[LinkId]
    | LinksMerged[LinkId]
    | LinkSplit[LinkId]
    | LinkDissolved[LinkId]
    | RecordsWithdrawn[LinkId]
)


@dataclass(frozen=True, slots=True)
class LinkUpdate(Generic[LinkId]):
    """The outcome of :func:`update_links`.

    ``assignment`` maps every remaining record of the affected components to its link ID;
    ``events`` lists what changed, in a deterministic order (withdrawals, dissolutions,
    splits, merges, creations, joins; each sorted by link ID). ``arrays`` is the
    assignment as ``(datasets, records, link IDs)`` in the same order, where the update
    has it (int link IDs: :func:`update_int_links`, and :func:`update_links` with int IDs).
    """

    assignment: Mapping[Node, LinkId]
    events: tuple[LinkEvent[LinkId], ...] = field(default=())
    arrays: tuple[Int64Array, Int64Array, Int64Array] | None = field(
        default=None, compare=False, repr=False
    )

    def groups(self) -> dict[LinkId, tuple[Node, ...]]:
        """Members of each link, sorted."""
        out: defaultdict[LinkId, list[Node]] = defaultdict(list)
        for node, link in self.assignment.items():
            out[link].append(node)
        return {link: tuple(sorted(nodes)) for link, nodes in out.items()}


def canonical_edges(edges: CandidateEdges) -> CandidateEdges:
    """Edges with the smaller node first, in anonlink's order; duplicates are an error."""
    normalised = _canonical_order(edges)
    _check_distinct_pairs(normalised)
    return normalised


def _canonical_order(edges: CandidateEdges) -> CandidateEdges:
    """:func:`canonical_edges` without the check for duplicates."""
    d0, r0 = edges.dataset_left, edges.record_left
    d1, r1 = edges.dataset_right, edges.record_right
    swap = (d0 > d1) | ((d0 == d1) & (r0 > r1))
    return CandidateEdges(
        edges.scores,
        np.where(swap, d1, d0),
        np.where(swap, r1, r0),
        np.where(swap, d0, d1),
        np.where(swap, r0, r1),
    ).sorted()


def _check_distinct_pairs(normalised: CandidateEdges) -> None:
    """Refuse normalised edges that join one pair of records twice."""
    # a pair twice: equal neighbours once the edges are sorted by their two nodes
    columns = (
        normalised.dataset_left,
        normalised.record_left,
        normalised.dataset_right,
        normalised.record_right,
    )
    by_pair = np.lexsort(columns[::-1])
    if by_pair.shape[0] > 1:
        same = np.ones(by_pair.shape[0] - 1, dtype=np.bool_)
        for column in columns:
            ordered = column[by_pair]
            same &= ordered[1:] == ordered[:-1]
        if same.any():
            raise InvalidInputError("candidate edges contain the same pair of records twice")


def connected_components(nodes: Iterable[Node], edges: CandidateEdges) -> list[list[Node]]:
    """Connected components (union-find); each sorted, ordered by their smallest node."""
    parent: dict[Node, Node] = {node: node for node in nodes}

    def find(node: Node) -> Node:
        root = node
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:
            parent[node], node = root, parent[node]
        return root

    for _score, a, b in edges.as_tuples():
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: defaultdict[Node, list[Node]] = defaultdict(list)
    for node in parent:
        members[find(node)].append(node)
    return sorted((sorted(group) for group in members.values()), key=lambda g: g[0])


#: Rounds of vectorised hooking before :func:`_component_roots` finishes the rest in
#: Python (a guard: random and real graphs need a handful).
_HOOK_ROUNDS = 48


class _NodeCoder:
    """One int64 per ``(dataset, record)`` node, in the nodes' tuple order, for every
    node built from the values it was given: offsets from the smallest dataset and record
    where the product of their spans fits, ranks among the distinct values otherwise."""

    def __init__(self, datasets: Sequence[Int64Array], records: Sequence[Int64Array]) -> None:
        dataset = np.concatenate([np.empty(0, np.int64), *datasets])
        record = np.concatenate([np.empty(0, np.int64), *records])
        self._datasets: Int64Array | None = None
        self._records: Int64Array | None = None
        self._low_dataset = self._low_record = 0
        self._span = 1
        if dataset.shape[0] == 0:
            return
        low_d, high_d = int(dataset.min()), int(dataset.max())
        low_r, high_r = int(record.min()), int(record.max())
        span = high_r - low_r + 1
        if (high_d - low_d + 1) * span < 2**62:
            self._low_dataset, self._low_record, self._span = low_d, low_r, span
        else:
            self._datasets = unique_sorted(dataset)
            self._records = unique_sorted(record)
            self._span = self._records.shape[0] + 1

    def codes(self, dataset: Int64Array, record: Int64Array) -> Int64Array:
        """The codes of nodes built from the values the coder was given."""
        if self._datasets is None or self._records is None:
            code: Int64Array = (dataset - np.int64(self._low_dataset)) * np.int64(self._span) + (
                record - np.int64(self._low_record)
            )
            return code
        return _node_codes(dataset, record, self._datasets, self._records)


def _node_codes(
    dataset: Int64Array, record: Int64Array, datasets: Int64Array, records: Int64Array
) -> Int64Array:
    """One int64 per ``(dataset, record)`` node, in the nodes' tuple order: the rank of its
    dataset among ``datasets`` times ``len(records) + 1`` plus the rank of its record among
    ``records`` (both sorted and distinct, and holding the nodes' values)."""
    code: Int64Array = np.searchsorted(datasets, dataset).astype(np.int64) * np.int64(
        records.shape[0] + 1
    ) + np.searchsorted(records, record).astype(np.int64)
    return code


def _positions(sorted_codes: Int64Array, codes: Int64Array) -> tuple[Int64Array, BoolArray]:
    """Where each of ``codes`` is in ``sorted_codes`` (distinct, ascending), and whether it
    is there at all (a missing code gets position 0)."""
    count = sorted_codes.shape[0]
    if count == 0:
        return np.zeros(codes.shape[0], np.int64), np.zeros(codes.shape[0], np.bool_)
    found = np.minimum(np.searchsorted(sorted_codes, codes), count - 1).astype(np.int64)
    present: BoolArray = sorted_codes[found] == codes
    return np.where(present, found, 0), present


class _Locator:
    """Positions of nodes among distinct nodes in tuple order (``dataset``, ``record``,
    their ``codes`` ascending): through a table indexed by record where the records are
    distinct and span little more than their count (the service's node IDs), else by
    binary search of the codes; a node not among them is reported absent."""

    def __init__(
        self, dataset: Int64Array, record: Int64Array, codes: Int64Array, coder: _NodeCoder
    ) -> None:
        self._dataset, self._record, self._codes, self._coder = dataset, record, codes, coder
        self._table: Int64Array | None = None
        self._low = 0
        count = record.shape[0]
        if count == 0:
            return
        low, high = int(record.min()), int(record.max())
        if high - low + 1 > 4 * count + 64:
            return
        table = np.full(high - low + 1, -1, dtype=np.int64)
        offsets = record - np.int64(low)
        table[offsets] = np.arange(count, dtype=np.int64)
        if np.array_equal(table[offsets], np.arange(count, dtype=np.int64)):  # distinct
            self._table, self._low = table, low

    def find(self, dataset: Int64Array, record: Int64Array) -> tuple[Int64Array, BoolArray]:
        """Each node's position (0 where absent) and whether it is among the nodes."""
        table = self._table
        if table is None:
            position, present = _positions(self._codes, self._coder.codes(dataset, record))
        else:
            offset = record - np.int64(self._low)
            inside = (offset >= 0) & (offset < table.shape[0])
            position = table[np.where(inside, offset, 0)]
            present = inside & (position >= 0)
            position = np.where(present, position, 0)
        if self._codes.shape[0]:
            # exact, whatever the values (a clusterer may return any node)
            present &= (self._dataset[position] == dataset) & (self._record[position] == record)
        return position, present


def _component_roots(count: int, left: list[int], right: list[int]) -> list[int]:
    """Union-find over node positions ``0..count-1``: each position's root, the smallest
    position of its connected component."""
    parent = list(range(count))
    for a, b in zip(left, right, strict=True):
        while parent[a] != a:
            parent[a] = a = parent[parent[a]]
        while parent[b] != b:
            parent[b] = b = parent[parent[b]]
        if a < b:
            parent[b] = a
        elif b < a:
            parent[a] = b
    # parent[i] <= i throughout, so one ascending pass leaves every position on its root
    for position in range(count):
        parent[position] = parent[parent[position]]
    return parent


def _component_root_array(count: int, left: Int64Array, right: Int64Array) -> Int64Array:
    """:func:`_component_roots` vectorised: each round hooks the larger root of every edge
    whose ends have different roots onto the smallest root it meets (``parent[i] <= i``
    always), then points every position at its root. The smallest position of a component
    never hooks, so it ends as the root of all of it."""
    parent = np.arange(count, dtype=np.int64)
    a, b = left, right
    for _round in range(_HOOK_ROUNDS):
        root_a, root_b = parent[a], parent[b]
        apart = root_a != root_b
        if not apart.all():
            a, b, root_a, root_b = a[apart], b[apart], root_a[apart], root_b[apart]
        if a.shape[0] == 0:
            return parent
        np.minimum.at(parent, np.maximum(root_a, root_b), np.minimum(root_a, root_b))
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    # not settled (a long chain of hooks): finish the remaining edges, between roots
    roots = np.asarray(
        _component_roots(count, parent[a].tolist(), parent[b].tolist()), dtype=np.int64
    )
    settled: Int64Array = roots[parent]
    return settled


class PairRule(Protocol):
    """Whether a clusterer groups the two records of a component that is a single edge,
    for many such components at once: their edges (canonical, one per component) in, one
    bool per edge out. It must agree with the clusterer on those components; with one,
    :func:`solve_components` calls the clusterer only on the other components."""

    def __call__(self, edges: CandidateEdges, /) -> BoolArray: ...


def greedy_pair_rule(edges: CandidateEdges, /) -> BoolArray:
    """:func:`greedy_solve`'s :class:`PairRule`: an edge between two records groups them."""
    grouped: BoolArray = np.ones(len(edges), dtype=np.bool_)
    return grouped


@dataclass(frozen=True, slots=True)
class _Partition:
    """A partition of the nodes at positions ``0..n-1`` (tuple order): ``head[p]`` is the
    smallest position of the group of ``p``, ``group[p]`` the group's index (groups numbered
    by their smallest member), ``count`` the number of groups, ``order`` the positions
    group by group (each ascending)."""

    head: Int64Array
    group: Int64Array
    count: int
    order: Int64Array

    def bounds(self) -> Int64Array:
        """Start of each group's members in :attr:`order`, and the end of the last."""
        sizes = np.bincount(self.group, minlength=self.count).astype(np.int64)
        bounds: Int64Array = np.concatenate([np.zeros(1, np.int64), np.cumsum(sizes)])
        return bounds


def _partition(
    dataset: Int64Array,
    record: Int64Array,
    codes: Int64Array,
    coder: _NodeCoder,
    ordered: CandidateEdges,
    clusterer: ComponentClusterer,
    pair_rule: PairRule | None,
) -> _Partition:
    """Cluster each connected component of the nodes (positions in ``codes``, sorted and
    distinct) on its own; ``ordered`` is in canonical order (:func:`_canonical_order`),
    checked here for duplicates and for nodes outside."""
    count = codes.shape[0]
    locator = _Locator(dataset, record, codes, coder)
    left, found_left = locator.find(ordered.dataset_left, ordered.record_left)
    right, found_right = locator.find(ordered.dataset_right, ordered.record_right)
    if not (found_left.all() and found_right.all()):
        _check_distinct_pairs(ordered)  # the error canonical_edges would have raised first
        raise InvalidInputError("a candidate edge refers to a record outside the components")
    # a pair twice (canonical_edges' check, on positions: left < right or a self-edge)
    if left.shape[0] > 1:
        pairs = np.sort(left * np.int64(count) + right)
        if (pairs[1:] == pairs[:-1]).any():
            raise InvalidInputError("candidate edges contain the same pair of records twice")
    roots = _component_root_array(count, left, right)
    head = np.arange(count, dtype=np.int64)
    edge_count = ordered.scores.shape[0]
    if edge_count:
        sizes = np.bincount(roots, minlength=count)
        edge_root = roots[left]
        per_component = np.bincount(edge_root, minlength=count)
        # components of two records and one edge: the pair rule decides them all at once
        pair = np.zeros(edge_count, dtype=np.bool_)
        if pair_rule is not None:
            pair = (sizes[edge_root] == 2) & (per_component[edge_root] == 1)
            if pair.any():
                at = np.flatnonzero(pair)
                joined = np.asarray(pair_rule(_take(ordered, at)), dtype=np.bool_)
                if joined.shape != at.shape:
                    raise InvalidInputError("the pair rule returned the wrong number of answers")
                at = at[joined]
                head[right[at]] = left[at]
        # the other components with two or more records, one clusterer call each: edges
        # grouped by component in one stable sort, canonical order kept within each
        rest = np.flatnonzero(~pair & (sizes[edge_root] > 1))
        if rest.shape[0]:
            by_component = rest[np.argsort(edge_root[rest], kind="stable")]
            _cluster_components(
                locator,
                roots,
                head,
                _take(ordered, by_component),
                edge_root[by_component],
                clusterer,
            )
    first = head == np.arange(count, dtype=np.int64)
    group_of_head = np.cumsum(first, dtype=np.int64) - 1
    group = group_of_head[head]
    return _Partition(
        head,
        group,
        int(group_of_head[-1]) + 1 if count else 0,
        np.argsort(group, kind="stable"),
    )


def _take(edges: CandidateEdges, at: Int64Array) -> CandidateEdges:
    return CandidateEdges(
        edges.scores[at],
        edges.dataset_left[at],
        edges.record_left[at],
        edges.dataset_right[at],
        edges.record_right[at],
    )


def _edges_view(
    scores: Float64Array,
    dataset_left: Int64Array,
    record_left: Int64Array,
    dataset_right: Int64Array,
    record_right: Int64Array,
) -> CandidateEdges:
    """Candidate edges that are views of read-only arrays of one length, wrapped without
    the copies of the constructor (a clusterer call per component: most of their cost)."""
    edges: CandidateEdges = object.__new__(CandidateEdges)
    for name, array in (
        ("scores", scores),
        ("dataset_left", dataset_left),
        ("record_left", record_left),
        ("dataset_right", dataset_right),
        ("record_right", record_right),
    ):
        if array.flags.writeable:
            array = array.view()
            array.setflags(write=False)
        object.__setattr__(edges, name, array)
    return edges


def _cluster_components(
    locator: _Locator,
    roots: Int64Array,
    head: Int64Array,
    edges: CandidateEdges,
    edge_root: Int64Array,
    clusterer: ComponentClusterer,
) -> None:
    """Call the clusterer on each component's edges (``edges`` grouped by component, the
    component's root in ``edge_root``), check its groups and record them in ``head``."""
    starts = np.flatnonzero(np.r_[True, edge_root[1:] != edge_root[:-1]])
    bounds = np.append(starts, edge_root.shape[0]).tolist()
    component_roots = edge_root[starts].tolist()
    scores = edges.scores
    dataset_left, record_left = edges.dataset_left, edges.record_left
    dataset_right, record_right = edges.dataset_right, edges.record_right
    flat: list[Node] = []
    sizes: list[int] = []
    group_roots: list[int] = []
    for start, end, root in zip(bounds[:-1], bounds[1:], component_roots, strict=True):
        groups = clusterer(
            _edges_view(
                scores[start:end],
                dataset_left[start:end],
                record_left[start:end],
                dataset_right[start:end],
                record_right[start:end],
            )
        )
        for group in groups:
            members = sorted(group)
            flat.extend(members)
            sizes.append(len(members))
            group_roots.append(root)
    if not sizes:
        return
    size = np.asarray(sizes, dtype=np.int64)
    nodes = np.array(flat, dtype=np.int64).reshape(len(flat), 2)
    position, present = locator.find(nodes[:, 0], nodes[:, 1])
    member_root = np.repeat(np.asarray(group_roots, dtype=np.int64), size)
    outside_member = ~present | (roots[position] != member_root)
    # a member seen in an earlier group (or twice in its own)
    by_position = np.argsort(np.where(present, position, -1), kind="stable")
    repeated = np.zeros(position.shape[0], dtype=np.bool_)
    ordered_positions = np.where(present, position, -1)[by_position]
    repeated[by_position[1:]] = (ordered_positions[1:] == ordered_positions[:-1]) & (
        ordered_positions[1:] >= 0
    )
    ends = np.cumsum(size)
    group_start = ends - size

    def per_group(flags: BoolArray) -> BoolArray:
        running = np.concatenate([np.zeros(1, np.int64), np.cumsum(flags, dtype=np.int64)])
        any_flag: BoolArray = running[ends] > running[group_start]
        return any_flag

    outside = (size < 2) | per_group(outside_member)
    overlapping = per_group(repeated)
    bad = outside | overlapping
    if bad.any():
        first_bad = int(np.argmax(bad))
        if outside[first_bad]:
            raise InvalidInputError("the clusterer returned a group outside its component")
        raise InvalidInputError("the clusterer returned overlapping groups")
    # members are sorted: each group's first member is its smallest
    head[position] = np.repeat(position[group_start], size)


def solve_components(
    nodes: Iterable[Node],
    edges: CandidateEdges,
    clusterer: ComponentClusterer = greedy_solve,
    pair_rule: PairRule | None = None,
) -> list[tuple[Node, ...]]:
    """Partition ``nodes`` (singletons included) by clustering each component on its own.

    Equal to clustering all edges at once for greedy (see the module docstring). Groups are
    sorted, and ordered by their smallest node. ``pair_rule`` (greedy's by default with the
    greedy clusterer) decides the components of a single edge without calling the clusterer.
    """
    listed = list(nodes)
    if len(listed) <= _SMALL_UPDATE:
        return _small_solve(sorted(set(listed)), canonical_edges(edges), clusterer)
    ordered = _canonical_order(edges)
    node_array = np.array(listed, dtype=np.int64).reshape(-1, 2)
    coder = _NodeCoder(
        [node_array[:, 0], ordered.dataset_left, ordered.dataset_right],
        [node_array[:, 1], ordered.record_left, ordered.record_right],
    )
    codes, first = _distinct(coder.codes(node_array[:, 0], node_array[:, 1]))
    dataset, record = node_array[first, 0], node_array[first, 1]
    partition = _partition(
        dataset, record, codes, coder, ordered, clusterer, _default_rule(clusterer, pair_rule)
    )
    return _groups(dataset, record, partition)


def _default_rule(clusterer: ComponentClusterer, rule: PairRule | None) -> PairRule | None:
    if rule is None and clusterer is greedy_solve:
        return greedy_pair_rule
    return rule


def _groups(
    dataset: Int64Array, record: Int64Array, partition: _Partition
) -> list[tuple[Node, ...]]:
    """The groups as sorted tuples of nodes, by smallest member."""
    order = partition.order
    nodes = list(zip(dataset[order].tolist(), record[order].tolist(), strict=True))
    bounds = partition.bounds().tolist()
    return [tuple(nodes[start:end]) for start, end in itertools.pairwise(bounds)]


def _distinct(codes: Int64Array) -> tuple[Int64Array, Int64Array]:
    """The distinct codes, ascending, and where each first occurs."""
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    starts = np.ones(ordered.shape[0], dtype=np.bool_)
    starts[1:] = ordered[1:] != ordered[:-1]
    first: Int64Array = order[starts]
    distinct: Int64Array = ordered[starts]
    return distinct, first


class _Assignment(Mapping[Node, LinkId]):
    """:attr:`LinkUpdate.assignment` built on first use from the arrays of the update (a
    rebuild's callers read the arrays and never pay for a dict of every record)."""

    __slots__ = ("_build", "_dict")

    def __init__(self, build: Callable[[], dict[Node, LinkId]]) -> None:
        self._build: Callable[[], dict[Node, LinkId]] | None = build
        self._dict: dict[Node, LinkId] | None = None

    def _mapping(self) -> dict[Node, LinkId]:
        if self._dict is None:
            assert self._build is not None
            self._dict, self._build = self._build(), None
        return self._dict

    def __getitem__(self, node: Node) -> LinkId:
        return self._mapping()[node]

    def __iter__(self) -> Iterator[Node]:
        return iter(self._mapping())

    def __len__(self) -> int:
        return len(self._mapping())

    def __repr__(self) -> str:
        return repr(self._mapping())


@dataclass(frozen=True, slots=True)
class _Links(Generic[LinkId]):
    """Link IDs by code: the old IDs ascending (codes ``0..old-1``), then the fresh ones in
    the order allocated; ``array`` holds them all as int64 when they are ints."""

    ids: list[LinkId]
    old: int
    array: Int64Array | None

    def sort_key(self, codes: Int64Array) -> Int64Array:
        """An int64 per code that sorts as its link ID does: the ID itself where the IDs
        are ints, else its rank among all of them."""
        if self.array is not None:
            key: Int64Array = self.array[codes]
            return key
        ids = self.ids
        rank = np.empty(len(ids), dtype=np.int64)
        rank[np.array(sorted(range(len(ids)), key=ids.__getitem__), dtype=np.int64)] = np.arange(
            len(ids), dtype=np.int64
        )
        ranked: Int64Array = rank[codes]
        return ranked

    def values(self, codes: Int64Array) -> list[LinkId]:
        """The link IDs of ``codes``."""
        if self.array is not None:
            return cast("list[LinkId]", self.array[codes].tolist())
        ids = self.ids
        return [ids[code] for code in codes.tolist()]


def _link_codes(values: list[LinkId]) -> tuple[list[LinkId], Int64Array, Int64Array | None]:
    """The distinct link IDs ascending, each value's code (index among them), and the
    distinct IDs as int64 when all are ints that fit."""
    if all(type(value) is int for value in values):
        try:
            array = np.array(values, dtype=np.int64).reshape(-1)
        except OverflowError:
            pass
        else:
            distinct, code = unique_inverse(array)
            return cast("list[LinkId]", distinct.tolist()), code.astype(np.int64), distinct
    distinct_ids = sorted(set(values))
    index = {value: i for i, value in enumerate(distinct_ids)}
    return distinct_ids, np.array([index[v] for v in values], dtype=np.int64), None


def _node_array(nodes: Iterable[Node]) -> Int64Array:
    listed = list(nodes)
    array: Int64Array = np.array(listed, dtype=np.int64).reshape(len(listed), 2)
    return array


def update_links(
    existing: Mapping[Node, LinkId],
    edges: CandidateEdges,
    allocate: Callable[[], LinkId],
    *,
    added: Iterable[Node] = (),
    withdrawn: Iterable[Node] = (),
    clusterer: ComponentClusterer = greedy_solve,
    pair_rule: PairRule | None = None,
) -> LinkUpdate[LinkId]:
    """Recompute the affected components and carry link IDs over (see the module docstring).

    :param existing: the current link ID of every record of the affected components
        (singleton links included), withdrawn records included.
    :param edges: all candidate edges among the records that remain (existing minus
        withdrawn, plus added); edges that touch a withdrawn record are ignored.
    :param allocate: returns a fresh, never used link ID each time it is called.
    :param added: records new to the index; they must not be in ``existing``.
    :param withdrawn: records to remove; they must be in ``existing``.
    :param pair_rule: decides the components of a single edge without the clusterer
        (:class:`PairRule`; greedy's by default with the greedy clusterer).
    """
    added = list(added)
    withdrawn = list(withdrawn)
    if len(existing) + len(added) <= _SMALL_UPDATE:
        return _small_update(existing, edges, allocate, set(added), set(withdrawn), clusterer)
    keys = _node_array(existing.keys())
    ids, link_code, id_array = _link_codes(list(existing.values()))
    return _update(
        (keys[:, 0], keys[:, 1]),
        link_code,
        ids,
        id_array,
        _node_array(added),
        _node_array(withdrawn),
        edges,
        allocate,
        clusterer,
        _default_rule(clusterer, pair_rule),
    )


def update_int_links(
    existing: tuple[Int64Array, Int64Array, Int64Array],
    edges: CandidateEdges,
    allocate: Callable[[], int],
    *,
    added: tuple[Int64Array, Int64Array] | None = None,
    withdrawn: tuple[Int64Array, Int64Array] | None = None,
    clusterer: ComponentClusterer = greedy_solve,
    pair_rule: PairRule | None = None,
) -> LinkUpdate[int]:
    """:func:`update_links` with int link IDs and the records as arrays, for large updates
    (a rebuild): ``existing`` is ``(datasets, records, link IDs)`` (distinct records),
    ``added`` and ``withdrawn`` are ``(datasets, records)``. The update also carries the
    assignment as arrays (:attr:`LinkUpdate.arrays`)."""
    dataset, record, links = (np.asarray(a, dtype=np.int64).reshape(-1) for a in existing)
    no_nodes = np.empty((0, 2), dtype=np.int64)
    added_nodes = no_nodes if added is None else np.column_stack(added).astype(np.int64)
    gone_nodes = no_nodes if withdrawn is None else np.column_stack(withdrawn).astype(np.int64)
    if dataset.shape[0] + added_nodes.shape[0] <= _SMALL_UPDATE:
        current = dict(
            zip(
                zip(dataset.tolist(), record.tolist(), strict=True),
                links.tolist(),
                strict=True,
            )
        )
        if len(current) != dataset.shape[0]:
            raise InvalidInputError("a record has two current links")
        return _small_update(
            current,
            edges,
            allocate,
            set(_node_list(added_nodes[:, 0], added_nodes[:, 1])),
            set(_node_list(gone_nodes[:, 0], gone_nodes[:, 1])),
            clusterer,
        )
    distinct, link_code = unique_inverse(links)
    return _update(
        (dataset, record),
        link_code.astype(np.int64),
        cast("list[int]", distinct.tolist()),
        distinct,
        added_nodes,
        gone_nodes,
        edges,
        allocate,
        clusterer,
        _default_rule(clusterer, pair_rule),
    )


def _update(
    existing: tuple[Int64Array, Int64Array],
    link_code: Int64Array,
    old_ids: list[LinkId],
    old_array: Int64Array | None,
    added: Int64Array,
    withdrawn: Int64Array,
    edges: CandidateEdges,
    allocate: Callable[[], LinkId],
    clusterer: ComponentClusterer,
    pair_rule: PairRule | None,
) -> LinkUpdate[LinkId]:
    """:func:`update_links` on arrays: ``existing`` nodes with their links' codes (indices
    into ``old_ids``, the distinct old IDs ascending), ``added`` and ``withdrawn`` nodes as
    ``[n, 2]`` arrays."""
    ex_dataset, ex_record = existing
    coder = _NodeCoder(
        [ex_dataset, added[:, 0], withdrawn[:, 0], edges.dataset_left, edges.dataset_right],
        [ex_record, added[:, 1], withdrawn[:, 1], edges.record_left, edges.record_right],
    )
    ex_codes, ex_first = _distinct(coder.codes(ex_dataset, ex_record))
    if ex_codes.shape[0] != ex_dataset.shape[0]:
        raise InvalidInputError("a record has two current links")
    ex_dataset, ex_record, link_code = (
        ex_dataset[ex_first],
        ex_record[ex_first],
        link_code[ex_first],
    )
    added_codes, added_first = _distinct(coder.codes(added[:, 0], added[:, 1]))
    if _positions(ex_codes, added_codes)[1].any():
        raise InvalidInputError("an added record already has a link")
    gone_codes = _distinct(coder.codes(withdrawn[:, 0], withdrawn[:, 1]))[0]
    gone_at, gone_known = _positions(ex_codes, gone_codes)
    if not gone_known.all():
        raise InvalidInputError("a withdrawn record has no link")

    # the records that remain, in tuple order, with their old link (-1: added)
    keep = np.ones(ex_codes.shape[0], dtype=np.bool_)
    keep[gone_at] = False
    codes = np.concatenate([ex_codes[keep], added_codes])
    order = np.argsort(codes, kind="stable")
    codes = codes[order]
    dataset = np.concatenate([ex_dataset[keep], added[added_first, 0]])[order]
    record = np.concatenate([ex_record[keep], added[added_first, 1]])[order]
    before = np.concatenate([link_code[keep], np.full(added_codes.shape[0], -1, np.int64)])[order]

    kept = edges
    if gone_codes.shape[0] and len(edges):
        touches = (
            _positions(gone_codes, coder.codes(edges.dataset_left, edges.record_left))[1]
            | _positions(gone_codes, coder.codes(edges.dataset_right, edges.record_right))[1]
        )
        kept = _take(edges, np.flatnonzero(~touches))
    partition = _partition(
        dataset, record, codes, coder, _canonical_order(kept), clusterer, pair_rule
    )

    # Pair new groups with old IDs: overlap desc, old ID asc, smallest member asc (groups
    # are numbered by smallest member). Options are (group, old link) with their overlap.
    old_count = len(old_ids)
    group = partition.group
    had = before >= 0
    pairs, overlap = unique_counts(group[had] * np.int64(max(old_count, 1)) + before[had])
    option_group, option_link = np.divmod(pairs, np.int64(max(old_count, 1)))
    ranked = np.lexsort((option_group, option_link, -overlap))
    option_group, option_link = option_group[ranked], option_link[ranked]
    link_of_group = np.full(partition.count, -1, dtype=np.int64)
    used = np.zeros(old_count, dtype=np.bool_)
    # an option whose group and link have no other option is taken; the rest in order
    alone = (np.bincount(option_group, minlength=partition.count)[option_group] == 1) & (
        np.bincount(option_link, minlength=old_count)[option_link] == 1
    )
    link_of_group[option_group[alone]] = option_link[alone]
    used[option_link[alone]] = True
    taken: dict[int, int] = {}
    taken_links: set[int] = set()
    for index, link in zip(
        option_group[~alone].tolist(), option_link[~alone].tolist(), strict=True
    ):
        if index in taken or link in taken_links:
            continue
        taken[index] = link
        taken_links.add(link)
    if taken:
        link_of_group[np.fromiter(taken.keys(), np.int64, len(taken))] = np.fromiter(
            taken.values(), np.int64, len(taken)
        )
        used[np.fromiter(taken_links, np.int64, len(taken_links))] = True

    fresh_groups = np.flatnonzero(link_of_group < 0)
    fresh: list[LinkId] = []
    if fresh_groups.shape[0]:
        in_use: set[LinkId] = set(old_ids)
        for _ in range(fresh_groups.shape[0]):
            link_id = allocate()
            if link_id in in_use:
                raise InvalidInputError("the link ID allocator returned an ID already in use")
            in_use.add(link_id)
            fresh.append(link_id)
        link_of_group[fresh_groups] = old_count + np.arange(fresh_groups.shape[0])
    all_array: Int64Array | None = None
    if old_array is not None and all(type(link_id) is int for link_id in fresh):
        try:
            all_array = np.concatenate([old_array, np.array(fresh, dtype=np.int64)])
        except OverflowError:
            all_array = None
    links = _Links(old_ids + fresh, old_count, all_array)

    members = partition.order
    link_of_member = link_of_group[group[members]]
    member_dataset, member_record = dataset[members], record[members]

    def assignment() -> dict[Node, LinkId]:
        return dict(
            zip(
                zip(member_dataset.tolist(), member_record.tolist(), strict=True),
                links.values(link_of_member),
                strict=True,
            )
        )

    arrays = None
    if all_array is not None:
        arrays = (member_dataset, member_record, all_array[link_of_member])
    events = _events(
        links,
        (dataset, record, before, group),
        (ex_dataset[gone_at], ex_record[gone_at], link_code[gone_at]),
        partition,
        (option_group, option_link),
        link_of_group,
        used,
    )
    return LinkUpdate(_Assignment(assignment), events, arrays)


def _events(
    links: _Links[LinkId],
    remaining: tuple[Int64Array, Int64Array, Int64Array, Int64Array],
    gone: tuple[Int64Array, Int64Array, Int64Array],
    partition: _Partition,
    options: tuple[Int64Array, Int64Array],
    link_of_group: Int64Array,
    used: BoolArray,
) -> tuple[LinkEvent[LinkId], ...]:
    """The events of an update (:class:`LinkUpdate`), from arrays: the remaining records
    (tuple order) with their old link code (-1: added) and group; the withdrawn records
    (tuple order) with their old link code; the distinct (group, old link) pairs of the
    remaining records; each group's link code; which old links a group kept. Python runs
    only over the events themselves."""
    dataset, record, before, group = remaining
    gone_dataset, gone_record, gone_link = gone
    option_group, option_link = options
    ids = links.ids

    withdrawals: list[LinkEvent[LinkId]] = []
    if gone_link.shape[0]:
        by_link = np.argsort(gone_link, kind="stable")  # records stay in tuple order
        nodes = _node_list(gone_dataset[by_link], gone_record[by_link])
        for link, start, end in _runs(gone_link[by_link]):
            withdrawals.append(RecordsWithdrawn(ids[link], tuple(nodes[start:end])))
    dissolved: list[LinkEvent[LinkId]] = [
        LinkDissolved(ids[link]) for link in np.flatnonzero(~used).tolist()
    ]

    # old link -> the links its remaining records are in, by their IDs (only the options
    # of old links with two or more are sorted)
    splits: list[LinkEvent[LinkId]] = []
    split = np.bincount(option_link, minlength=links.old)[option_link] > 1
    if split.any():
        split_link, split_group = option_link[split], option_group[split]
        into_codes = link_of_group[split_group]
        by_old = np.lexsort((links.sort_key(into_codes), split_link))
        into = links.values(into_codes[by_old])
        for link, start, end in _runs(split_link[by_old]):
            splits.append(LinkSplit(ids[link], tuple(into[start:end])))

    # new link -> the old links of its records (old codes sort as their IDs), by new ID
    merges: list[LinkEvent[LinkId]] = []
    merged = np.bincount(option_group, minlength=partition.count)[option_group] > 1
    if merged.any():
        merged_link, merged_group = option_link[merged], option_group[merged]
        new_codes = link_of_group[merged_group]
        by_new = np.lexsort((merged_link, links.sort_key(new_codes)))
        from_links = merged_link[by_new].tolist()
        new_links = new_codes[by_new]
        for own, start, end in _runs(new_links):
            merges.append(
                LinksMerged(
                    tuple(ids[link] for link in from_links[start:end] if link != own), ids[own]
                )
            )

    created: list[LinkEvent[LinkId]] = []
    fresh = np.flatnonzero(link_of_group >= links.old)
    if fresh.shape[0]:
        fresh = fresh[np.argsort(links.sort_key(link_of_group[fresh]), kind="stable")]
        members = partition.order
        bounds = partition.bounds().tolist()
        nodes = _node_list(dataset[members], record[members])
        for index in fresh.tolist():
            created.append(
                LinkCreated(
                    ids[int(link_of_group[index])], tuple(nodes[bounds[index] : bounds[index + 1]])
                )
            )

    joins: list[LinkEvent[LinkId]] = []
    newcomers = np.flatnonzero((before < 0) & (link_of_group[group] < links.old))
    if newcomers.shape[0]:
        # by the link joined; the records within one stay in tuple order
        joined = link_of_group[group[newcomers]]
        by_link = np.argsort(links.sort_key(joined), kind="stable")
        newcomers, joined = newcomers[by_link], joined[by_link]
        nodes = _node_list(dataset[newcomers], record[newcomers])
        for link, start, end in _runs(joined):
            joins.append(RecordsJoined(ids[link], tuple(nodes[start:end])))
    return tuple(itertools.chain(withdrawals, dissolved, splits, merges, created, joins))


def _runs(values: Int64Array) -> Iterator[tuple[int, int, int]]:
    """``(value, start, end)`` of each run of equal values."""
    if values.shape[0] == 0:
        return
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    ends = np.append(starts[1:], values.shape[0])
    yield from zip(values[starts].tolist(), starts.tolist(), ends.tolist(), strict=True)


def _node_list(dataset: Int64Array, record: Int64Array) -> list[Node]:
    return list(zip(dataset.tolist(), record.tolist(), strict=True))


# ---------------------------------------------------------------------------------------
# The same per node in Python, for small updates (an ingest batch's components): the
# implementation before the arrays, which they must equal.

#: Updates of at most this many records run per node in Python.
_SMALL_UPDATE = 300


def _small_edge_positions(
    node_list: list[Node], edges: CandidateEdges
) -> tuple[Int64Array, Int64Array]:
    """The positions in ``node_list`` (sorted, distinct) of each edge's two nodes, found
    vectorised through a code per node in tuple order."""
    count = len(node_list)
    node_array = np.array(node_list, dtype=np.int64).reshape(count, 2)
    datasets = unique_sorted(node_array[:, 0])
    records = unique_sorted(node_array[:, 1])
    node_codes = _node_codes(node_array[:, 0], node_array[:, 1], datasets, records)
    ends: list[Int64Array] = []
    for dataset, record in (
        (edges.dataset_left, edges.record_left),
        (edges.dataset_right, edges.record_right),
    ):
        codes = _node_codes(dataset, record, datasets, records)
        found = np.minimum(np.searchsorted(node_codes, codes), max(count - 1, 0))
        if codes.shape[0] and (
            count == 0
            or not np.array_equal(node_array[found, 0], dataset)
            or not np.array_equal(node_array[found, 1], record)
        ):
            raise InvalidInputError("a candidate edge refers to a record outside the components")
        ends.append(found.astype(np.int64))
    return ends[0], ends[1]


def _small_solve(
    node_list: list[Node], ordered: CandidateEdges, clusterer: ComponentClusterer
) -> list[tuple[Node, ...]]:
    """:func:`solve_components` per node in Python, for few nodes (``node_list`` sorted and
    distinct, ``ordered`` canonical)."""
    count = len(node_list)
    left, right = _small_edge_positions(node_list, ordered)
    roots = _component_roots(count, left.tolist(), right.tolist())
    members_of: defaultdict[int, list[int]] = defaultdict(list)
    for position, root in enumerate(roots):
        members_of[root].append(position)
    # (position of the smallest member, group), sorted by that position at the end;
    # singletons first (a node whose only edges are to itself is one too)
    partition: list[tuple[int, tuple[Node, ...]]] = [
        (root, (node_list[root],)) for root, members in members_of.items() if len(members) == 1
    ]
    # Edges grouped by component (its root) in one stable sort, canonical order kept
    # within each.
    edge_root = np.asarray(roots, dtype=np.int64)[left]
    by_component = np.argsort(edge_root, kind="stable")
    edge_root = edge_root[by_component]
    starts = np.flatnonzero(np.r_[True, edge_root[1:] != edge_root[:-1]])[: edge_root.shape[0]]
    bounds = np.append(starts, edge_root.shape[0]).tolist()
    scores = ordered.scores[by_component]
    dataset_left = ordered.dataset_left[by_component]
    record_left = ordered.record_left[by_component]
    dataset_right = ordered.dataset_right[by_component]
    record_right = ordered.record_right[by_component]
    index_of = dict(zip(node_list, range(count), strict=True))
    for start, end, root in zip(bounds[:-1], bounds[1:], edge_root[starts].tolist(), strict=True):
        component = members_of[root]
        if len(component) == 1:
            continue
        grouped: set[int] = set()
        for group in clusterer(
            CandidateEdges(
                scores[start:end],
                dataset_left[start:end],
                record_left[start:end],
                dataset_right[start:end],
                record_right[start:end],
            )
        ):
            members = tuple(sorted(group))
            at = [index_of.get(m, -1) for m in members]
            if len(members) < 2 or any(p < 0 or roots[p] != root for p in at):
                raise InvalidInputError("the clusterer returned a group outside its component")
            if not grouped.isdisjoint(at):
                raise InvalidInputError("the clusterer returned overlapping groups")
            grouped.update(at)
            partition.append((at[0], members))
        partition.extend(
            (position, (node_list[position],)) for position in component if position not in grouped
        )
    partition.sort(key=_small_first)
    return [group for _, group in partition]


def _small_first(item: tuple[int, tuple[Node, ...]]) -> int:
    return item[0]


def _small_update(
    existing: Mapping[Node, LinkId],
    edges: CandidateEdges,
    allocate: Callable[[], LinkId],
    added_set: set[Node],
    withdrawn_set: set[Node],
    clusterer: ComponentClusterer,
) -> LinkUpdate[LinkId]:
    """:func:`update_links` per node in Python, for few records (numpy's per-call costs
    would outweigh its loops)."""
    if not added_set.isdisjoint(existing.keys()):
        raise InvalidInputError("an added record already has a link")
    if not withdrawn_set.issubset(existing.keys()):
        raise InvalidInputError("a withdrawn record has no link")
    remaining = (existing.keys() - withdrawn_set) | added_set
    kept = edges
    if withdrawn_set:
        keep = np.array(
            [a not in withdrawn_set and b not in withdrawn_set for _s, a, b in edges.as_tuples()],
            dtype=bool,
        )
        kept = CandidateEdges(
            edges.scores[keep],
            edges.dataset_left[keep],
            edges.record_left[keep],
            edges.dataset_right[keep],
            edges.record_right[keep],
        )
    partition = _small_solve(sorted(remaining), canonical_edges(kept), clusterer)

    # Pair new groups with old IDs: overlap desc, old ID asc, smallest member asc.
    link_before = existing.get
    options: list[tuple[int, LinkId, Node, int]] = []
    for index, group in enumerate(partition):
        if len(group) == 1:
            link = link_before(group[0])
            if link is not None:
                options.append((-1, link, group[0], index))
            continue
        overlap: dict[LinkId, int] = {}
        for node in group:
            link = link_before(node)
            if link is not None:
                overlap[link] = overlap.get(link, 0) + 1
        options.extend((-count, link, group[0], index) for link, count in overlap.items())
    options.sort()
    link_of_group: dict[int, LinkId] = {}
    used: set[LinkId] = set()
    for _neg, link, _first, index in options:
        if index in link_of_group or link in used:
            continue
        link_of_group[index] = link
        used.add(link)
    old_links = set(existing.values())
    fresh: set[LinkId] = set()
    for index in range(len(partition)):
        if index not in link_of_group:
            link = allocate()
            if link in old_links or link in fresh:
                raise InvalidInputError("the link ID allocator returned an ID already in use")
            link_of_group[index] = link
            fresh.add(link)

    assignment = {node: link_of_group[i] for i, group in enumerate(partition) for node in group}
    return LinkUpdate(
        assignment,
        _small_events(existing, withdrawn_set, added_set, partition, link_of_group, fresh),
        _assignment_arrays(assignment),
    )


def _small_events(
    existing: Mapping[Node, LinkId],
    withdrawn: set[Node],
    added: set[Node],
    partition: list[tuple[Node, ...]],
    link_of_group: dict[int, LinkId],
    fresh: set[LinkId],
) -> tuple[LinkEvent[LinkId], ...]:
    withdrawn_from: defaultdict[LinkId, list[Node]] = defaultdict(list)
    for node in withdrawn:
        withdrawn_from[existing[node]].append(node)
    # old link -> the links its remaining records are in; new link -> the old links of
    # its records; new link -> its added records
    destinations: dict[LinkId, set[LinkId]] = {}
    sources: dict[LinkId, set[LinkId]] = {}
    joined: dict[LinkId, list[Node]] = {}
    link_before = existing.get
    for index, group in enumerate(partition):
        link = link_of_group[index]
        for node in group:
            before = link_before(node)
            if before is not None:
                _small_add(destinations, before, link)
                _small_add(sources, link, before)
            elif node in added:
                joined.setdefault(link, []).append(node)
    surviving = set(link_of_group.values())
    old_links = sorted(set(existing.values()))

    withdrawals: list[LinkEvent[LinkId]] = [
        RecordsWithdrawn(link, tuple(sorted(withdrawn_from[link])))
        for link in old_links
        if link in withdrawn_from
    ]
    dissolved: list[LinkEvent[LinkId]] = [
        LinkDissolved(link) for link in old_links if link not in surviving
    ]
    splits: list[LinkEvent[LinkId]] = [
        LinkSplit(link, tuple(sorted(destinations[link])))
        for link in old_links
        if len(destinations.get(link, ())) > 1
    ]
    merges: list[LinkEvent[LinkId]] = []
    created: list[LinkEvent[LinkId]] = []
    joins: list[LinkEvent[LinkId]] = []
    # each group has a link of its own: by link ID
    for index, link in sorted(link_of_group.items(), key=_small_second):
        merged = sources.get(link, ())
        if len(merged) > 1:
            merges.append(LinksMerged(tuple(sorted(set(merged) - {link})), link))
        if link in fresh:
            created.append(LinkCreated(link, partition[index]))
        elif link in joined:
            joins.append(RecordsJoined(link, tuple(sorted(joined[link]))))
    return tuple(itertools.chain(withdrawals, dissolved, splits, merges, created, joins))


def _small_add(sets: dict[LinkId, set[LinkId]], key: LinkId, value: LinkId) -> None:
    found = sets.get(key)
    if found is None:
        sets[key] = {value}
    else:
        found.add(value)


def _small_second(item: tuple[int, LinkId]) -> LinkId:
    return item[1]


def _assignment_arrays(
    assignment: Mapping[Node, LinkId],
) -> tuple[Int64Array, Int64Array, Int64Array] | None:
    """:attr:`LinkUpdate.arrays` of a small update: where the link IDs are ints."""
    links = list(assignment.values())
    if not all(type(link) is int for link in links):
        return None
    nodes = _node_array(assignment.keys())
    try:
        return nodes[:, 0].copy(), nodes[:, 1].copy(), np.array(links, dtype=np.int64).reshape(-1)
    except OverflowError:
        return None
