"""``enlace ledger verify``'s completeness checks: the subject map recomputed from the log, and
the covert entries' private lookup against their records (docs/ledger.md §8 and §12).

Fed by the audit (``gateway.storage.ledger.audit``) one entry at a time, in index order, with
the record and its committed leaf hash. The map is rebuilt in memory (``subjectmap.MemoryStore``:
a few hundred bytes per subject key) exactly as the gateway folds it at checkpoint time, and
every ``map_head`` record must say what the rebuilt map says: ``covers`` its own index, ``keys``
the number of keys, ``root`` the map's root. At the end, the stored map state must be the last
map head's. ``ledger_covert`` rows are checked against their records: the row's entry must be a
covert exchange with as many subjects as rows, and with the covert key, the citizens' recomputed
covert keys must be exactly the record's subjects. (A covert record without any row — recorded
under pseudonyms before covert keys existed — is not checked: nothing says whose it is.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.kernel.encoding import b64encode
from gateway.kernel.ledger import record as rec
from gateway.kernel.ledger import subjectmap

#: How findings are reported: (kind, index, detail).
Report = Callable[[str, int, str], None]


class MapCheck:
    """The map and covert checks of one audit pass (see the module docstring)."""

    def __init__(self, report: Report, covert_key: bytes | None) -> None:
        self._report = report
        self._covert_key = covert_key
        self._store = subjectmap.MemoryStore()
        self._values: dict[str, subjectmap.Value] = {}
        self._pending: list[tuple[str, int, bytes]] = []
        self.last_head: tuple[int, bytes, int] | None = None  # index, root, keys
        self.heads = 0

    def entry(self, index: int, decoded: dict[str, Any] | None, leaf: bytes) -> None:
        """The record at ``index`` (None: not a JSON object) with its committed leaf hash."""
        if decoded is None:
            return
        if decoded.get("kind") == "map_head":
            self._map_head(index, decoded)
            return
        subjects = decoded.get("subjects")
        if isinstance(subjects, list):
            named = sorted({s for s in subjects if isinstance(s, str)})
            self._pending += [(s, index, leaf) for s in named]

    def _map_head(self, index: int, decoded: dict[str, Any]) -> None:
        changed = subjectmap.fold_chains(self._values, self._pending)
        self._pending = []
        self._values.update(changed)
        root = self._store.set({subjectmap.key_of(k): v.hash() for k, v in changed.items()})
        self.heads += 1
        self.last_head = (index, root, len(self._values))
        if decoded.get("covers") != index:
            self._report("map_head", index, "covers is not the map head's own index")
        if decoded.get("keys") != len(self._values):
            self._report("map_head", index, "keys differs from the map recomputed from the log")
        if decoded.get("root") != b64encode(root):
            self._report("map_head", index, "root differs from the map recomputed from the log")

    def stored_state(self, head: int, keys: int, root: bytes) -> None:
        """The stored map state (``ledger_map_state``) must be the last map head's."""
        index, expected, count = self.last_head or (-1, subjectmap.EMPTY, 0)
        if (head, keys, root) != (index, count, expected):
            self._report("map_head", max(head, 0), "stored map state is not the last map head's")

    def covert(self, index: int, decoded: dict[str, Any] | None, citizens: list[str]) -> None:
        """The ``ledger_covert`` pseudonyms of entry ``index`` (possibly none) against it."""
        covert = (
            decoded is not None
            and decoded.get("kind") == "exchange"
            and decoded.get("hidden_until") is not None
        )
        if not covert:
            if citizens:
                self._report("covert", index, "covert lookup rows for an entry that is not covert")
            return
        if not citizens:  # recorded under pseudonyms (before covert keys), or by another path
            return
        assert decoded is not None
        subjects = decoded.get("subjects")
        recorded = set(subjects) if isinstance(subjects, list) else set()
        if len(citizens) != len(recorded):
            self._report("covert", index, "covert lookup rows and the record's subjects differ")
            return
        xid = decoded.get("exchange_id")
        if self._covert_key is None or not isinstance(xid, str):
            return
        keys = {rec.covert_subject(self._covert_key, p, xid) for p in citizens}
        if keys != recorded:
            self._report("covert", index, "a covert lookup row does not match its record's key")
