"""What can go wrong with the ledger on a database, as one exception per failure.

``LedgerUnavailable`` means an entry was not durably recorded (the exchange fails closed);
``LedgerCorrupt`` means stored state contradicts itself, so nothing is appended or signed on
top of it; ``OutOfRange`` means a proof was asked for more than the ledger holds.
"""

from __future__ import annotations


class LedgerUnavailable(Exception):
    """The ledger could not durably record an entry; the exchange must not happen."""


class LedgerCorrupt(Exception):
    """Stored ledger state contradicts itself; nothing is appended or signed on top of it."""


class OutOfRange(LookupError):
    """A proof was asked for an index or tree size the ledger does not have (yet)."""
