"""Header names of the Enlace message protocol (see docs/protocol.md), and the one header map.

``HeaderMap`` is a message's headers read once: names lower-cased, a repeated field's values
joined with ``", "`` as RFC 9110 §5.3 combines them, the repeated names and the total size
noted. Every later look-up is one dict access.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

CLIENT = "X-Road-Client"
ID = "X-Road-Id"
USER_ID = "X-Road-UserId"
ISSUE = "X-Road-Issue"
REQUEST_HASH = "X-Road-Request-Hash"
ERROR = "X-Road-Error"
SERVICE = "X-Road-Service"
SUBJECT = "Enlace-Subject"
#: The Enlace-Subject value for operations that discover their subjects (docs/sources.md).
UNKNOWN_SUBJECT = "unknown"
PURPOSE = "Enlace-Purpose"
LEGAL_BASIS = "Enlace-Legal-Basis"
LEDGER_INDEX = "Enlace-Ledger-Index"
RECEIPT = "Enlace-Receipt"
CONTENT_DIGEST = "Content-Digest"
SIGNATURE = "Signature"
SIGNATURE_INPUT = "Signature-Input"

#: Headers a consumer must send, in the order they are signed.
REQUIRED_REQUEST = (CLIENT, ID, USER_ID, ISSUE, SUBJECT, PURPOSE, LEGAL_BASIS)
#: The headers that carry the signature; each must appear exactly once too.
SIGNATURE_HEADERS = (CONTENT_DIGEST, SIGNATURE_INPUT, SIGNATURE)


class HeaderMap(dict[str, str]):
    """Lower-cased header name → value (a repeated field's values joined with ``", "``)."""

    __slots__ = ("repeated", "size")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__()
        repeated: set[str] = set()
        size = 0
        for name, value in items:
            size += len(name) + len(value)
            key = name.lower()
            if key in self:
                repeated.add(key)
                self[key] = f"{self[key]}, {value}"
            else:
                self[key] = value
        #: The lower-cased names that appeared more than once.
        self.repeated: frozenset[str] = frozenset(repeated)
        #: The names and values together, in characters.
        self.size = size

    @classmethod
    def from_raw(cls, raw: Iterable[tuple[bytes, bytes]]) -> HeaderMap:
        """From an ASGI header list (bytes, as they came), decoded as latin-1."""
        return cls((name.decode("latin-1"), value.decode("latin-1")) for name, value in raw)

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> HeaderMap:
        """``headers`` as a HeaderMap: itself if it is one, else read once (case-blind)."""
        return headers if isinstance(headers, HeaderMap) else cls(headers.items())

    def value(self, name: str) -> str | None:
        """The value of ``name`` (any case), None when absent."""
        return self.get(name.lower())
