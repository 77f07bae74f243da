"""The trust document and the k-of-n witness policy (pure, no I/O; docs/trust.md).

A verifier that must not trust the server it checks pins, out of band, the log's checkpoint key
and the witnesses' keys with a quorum ``k``: a checkpoint counts only when the log's key signed
it for its origin **and** at least ``k`` distinct pinned witnesses cosigned it. The operator
publishes these keys as a trust document (``trust.json``, deployed beside the citizen page and
printed in docs/trust.md's procedure)::

    {"format": "enlace.trust/v1",
     "log": {"vkey": "<signed-note verifier key>", "fingerprint": "XXXX XXXX …"},
     "witnesses": [{"vkey": "<cosignature/v1 verifier key>", "fingerprint": "…"}, …],
     "quorum": k}

The fingerprint (the first 16 bytes of SHA-256 over the vkey text, hex in groups of four) is
what a person compares by eye; a verifier recomputes it and refuses a document whose
fingerprints do not match its keys. The page (``verify.js``), the offline HTML verifier, the
SDK and ``enlace ledger check-proof`` all apply ``WitnessPolicy.check``'s rule.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.kernel.ledger import checkpoint

__all__ = [
    "FORMAT",
    "TrustDocument",
    "TrustError",
    "WitnessPolicy",
    "fingerprint",
]

FORMAT = "enlace.trust/v1"
#: Most witnesses one document may pin (a note carries at most a few dozen signatures).
MAX_WITNESSES = 32


class TrustError(ValueError):
    """A trust document or witness policy is unusable, or a checkpoint fails the policy."""


def fingerprint(vkey: str) -> str:
    """What a person compares: SHA-256 over the vkey text, first 16 bytes, hex in fours."""
    digest = hashlib.sha256(vkey.encode()).hexdigest()[:32].upper()
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))


@dataclass(frozen=True)
class WitnessPolicy:
    """At least ``quorum`` of ``witnesses`` must have cosigned a checkpoint (0: none needed)."""

    witnesses: tuple[checkpoint.CosignatureVerifier, ...] = ()
    quorum: int = 0

    def __post_init__(self) -> None:
        names = [w.name for w in self.witnesses]
        if len(set(names)) != len(names):
            raise TrustError("each witness must have a key name of its own")
        if not 0 <= self.quorum <= len(self.witnesses):
            raise TrustError(f"quorum {self.quorum} of {len(self.witnesses)} witnesses")

    @classmethod
    def of(cls, vkeys: Sequence[str], quorum: int) -> WitnessPolicy:
        try:
            witnesses = tuple(checkpoint.CosignatureVerifier.from_vkey(v) for v in vkeys)
        except checkpoint.KeyFormatError as exc:
            raise TrustError(f"witness key: {exc}") from None
        return cls(witnesses, quorum)

    def check(
        self, note: bytes, log: checkpoint.NoteVerifier
    ) -> tuple[checkpoint.Checkpoint, tuple[str, ...]]:
        """The checkpoint ``note`` signed by ``log`` for its origin and cosigned by at least
        ``quorum`` pinned witnesses, with the names of those that cosigned; else TrustError."""
        if log.name in {w.name for w in self.witnesses}:
            raise TrustError("a witness needs a key name other than the log's")
        try:
            opened = checkpoint.open_note(note, [log, *self.witnesses])
            head = checkpoint.parse_checkpoint(opened.body)
        except checkpoint.NoteError as exc:
            raise TrustError(f"checkpoint: {exc}") from None
        if log.name not in opened.verified_names or head.origin != log.name:
            raise TrustError("checkpoint is not signed by the log's key for its origin")
        witnessed = tuple(name for name in opened.verified_names if name != log.name)
        if len(witnessed) < self.quorum:
            raise TrustError(
                f"checkpoint has {len(witnessed)} of the {self.quorum} witness cosignatures needed"
            )
        return head, witnessed


@dataclass(frozen=True)
class TrustDocument:
    """The keys a verifier pins: the log's and the witnesses', with the quorum."""

    log: checkpoint.NoteVerifier
    policy: WitnessPolicy

    def to_json(self) -> dict[str, Any]:
        def key(vkey: str) -> dict[str, str]:
            return {"vkey": vkey, "fingerprint": fingerprint(vkey)}

        return {
            "format": FORMAT,
            "log": key(self.log.to_vkey()),
            "witnesses": [key(w.to_vkey()) for w in self.policy.witnesses],
            "quorum": self.policy.quorum,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"

    @classmethod
    def parse(cls, data: Any) -> TrustDocument:
        """A trust document from its JSON; TrustError if malformed or a fingerprint differs."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise TrustError(f"not an {FORMAT} document")
        witnesses, quorum = data.get("witnesses", []), data.get("quorum", 0)
        if not isinstance(witnesses, list) or len(witnesses) > MAX_WITNESSES:
            raise TrustError("witnesses must be a list")
        if type(quorum) is not int:
            raise TrustError("quorum must be an integer")
        log_vkey = _pinned(data.get("log"))
        try:
            log = checkpoint.NoteVerifier.from_vkey(log_vkey)
        except checkpoint.KeyFormatError as exc:
            raise TrustError(f"log key: {exc}") from None
        return cls(log, WitnessPolicy.of([_pinned(w) for w in witnesses], quorum))


def _pinned(entry: Any) -> str:
    """A key entry's vkey, once its fingerprint (if given) matches it."""
    if not isinstance(entry, Mapping) or not isinstance(entry.get("vkey"), str):
        raise TrustError("every key entry needs a vkey")
    vkey: str = entry["vkey"]
    given = entry.get("fingerprint")
    if given is not None and given != fingerprint(vkey):
        raise TrustError(f"the fingerprint given for {vkey.split('+')[0]!r} is not its key's")
    return vkey
