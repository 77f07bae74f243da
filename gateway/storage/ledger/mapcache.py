"""The signing process's copy of the subject map's stored nodes and values (docs/ledger.md §12).

Owns ``MapCache``: what the fold has read or written of ``ledger_map_nodes`` and
``ledger_map_values``, including positions and subjects known to be absent, so a steady fold
reads (almost) nothing and only hashes and bulk-writes. The copy is valid for one stored map
state (``MapState``: map head index, key count, root) and is checked against the stored one
before every use (``use``): a state this process did not write (another gateway on the same
PostgreSQL signed, e.g. after a take-over) empties it. A fold's writes are held as pending
until the next use shows whether its transaction committed (the stored state is the one it
wrote) or not (the previous one still is): no commit hook is needed, and a rolled-back fold
leaves nothing behind. The head index names one log position and the map is a function of the
log before it, so equal states mean equal maps.

A copy that started from the empty map (stored root EMPTY: nothing stored) and has taken in
every fold since is **complete**: it holds every stored node and value, so a position or
subject it lacks is absent and is not read at all. A copy that started over on a non-empty map
(a restart, a take-over, the size cap) is partial: what it lacks is read from the store once and
kept, present or absent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from gateway.kernel.ledger import subjectmap

#: Entries (nodes and values) kept at most; past it the copy starts over empty (about 300 bytes
#: each: a map of ~500,000 keys fits).
MAX_ENTRIES = 2_000_000


@dataclasses.dataclass(frozen=True)
class MapState:
    """The newest map head: its index (-1: none yet), number of keys and root."""

    head: int
    keys: int
    root: bytes


@dataclasses.dataclass
class _Pending:
    state: MapState
    nodes: Mapping[subjectmap.NodePos, subjectmap.MapNode]
    values: Mapping[str, subjectmap.Value]


class MapCache:
    """Stored nodes and values as of ``state`` (None: absent from the store)."""

    def __init__(self) -> None:
        self.state: MapState | None = None
        self.nodes: dict[subjectmap.NodePos, subjectmap.MapNode | None] = {}
        self.values: dict[str, subjectmap.Value | None] = {}
        self.complete = False  # holds every stored node and value (module docstring)
        self.pending: _Pending | None = None
        self.lock = threading.Lock()

    def clear(self, stored: MapState) -> None:
        """Start over empty as the copy of ``stored``: complete if that map is empty."""
        self.nodes.clear()
        self.values.clear()
        self.complete = stored.root == subjectmap.EMPTY

    def validate(self, stored: MapState) -> None:
        """Make the copy that of ``stored``: apply the pending fold if it is the one stored,
        drop it if the state before it still is, start over otherwise."""
        pending, self.pending = self.pending, None
        if pending is not None and pending.state == stored:
            self.nodes.update(pending.nodes)
            self.values.update(pending.values)
        elif stored != self.state:
            self.clear(stored)
        self.state = stored
        if len(self.nodes) + len(self.values) > MAX_ENTRIES:
            self.clear(stored)  # a map that large is not empty: the copy is partial

    def wrote(
        self,
        state: MapState,
        nodes: Mapping[subjectmap.NodePos, subjectmap.MapNode],
        values: Mapping[str, subjectmap.Value],
    ) -> None:
        """A fold wrote ``nodes`` and ``values``, making ``state`` if its transaction commits."""
        self.pending = _Pending(state, nodes, values)

    def node_source(
        self,
        read: Callable[
            [Sequence[subjectmap.NodePos]], Mapping[subjectmap.NodePos, subjectmap.MapNode]
        ],
    ) -> subjectmap.NodeSource:
        """Where an update finds the stored nodes: the copy itself if it is complete, else a
        ``NodeReader`` answering from the copy, ``read`` (the store) for what it lacks."""
        if self.complete:
            return self.nodes

        def reader(
            positions: Sequence[subjectmap.NodePos],
        ) -> Mapping[subjectmap.NodePos, subjectmap.MapNode | None]:
            _fill(self.nodes, positions, read)
            return self.nodes  # the whole copy: no per-position work (``NodeReader``)

        return reader

    def read_values(
        self,
        subjects: Iterable[str],
        read: Callable[[Iterable[str]], Mapping[str, subjectmap.Value]],
    ) -> dict[str, subjectmap.Value]:
        """The stored values of ``subjects`` (absent ones left out), ``read`` for the unknown."""
        wanted = set(subjects)
        if not self.complete:
            _fill(self.values, wanted, read)
        return {s: v for s in wanted if (v := self.values.get(s)) is not None}


def _fill(known: dict[Any, Any], wanted: Iterable[Any], read: Callable[[list], Mapping]) -> None:
    missing = list({w for w in wanted if w not in known})
    if missing:
        found = read(missing)
        for item in missing:
            known[item] = found.get(item)


_CACHES: weakref.WeakKeyDictionary[Any, MapCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


@contextlib.contextmanager
def use(engine: Any, stored: MapState) -> Iterator[MapCache]:
    """The copy kept for ``engine`` (one per engine, gone with it), made that of ``stored``,
    held for one fold."""
    with _CACHES_LOCK:
        cache = _CACHES.get(engine)
        if cache is None:
            cache = _CACHES[engine] = MapCache()
    with cache.lock, _collector_paused():
        cache.validate(stored)
        yield cache


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection during a fold: it allocates tens of thousands of small
    acyclic objects, and the collections they trigger walk the young heap over and over
    (measured: about a third of a steady fold's CPU). Restored as it was after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
