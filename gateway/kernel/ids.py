"""X-Road-style identifiers: members, subsystems (clients) and services.

Shapes:
    member     INSTANCE/CLASS/MEMBER
    client     INSTANCE/CLASS/MEMBER/SUBSYSTEM
    service    INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE[/VERSION]

Every part is 1–64 characters of ``A–Z a–z 0–9 . _ -``, starting and ending with a letter or
digit, with no two underscores in a row: a strict subset of X-Road's set that needs no
percent-encoding in a URL path and can never smuggle a path separator, a query or a
dot-segment. A version is ``v`` followed by
dotted digits (``v1``, ``v2.1``), which is what lets a URL path be split unambiguously into
service, version and the rest of the path.

X-Road's metaservices are named in the path too (docs/protocol.md §8): ``INSTANCE/listClients``,
and ``INSTANCE/CLASS/MEMBER/SUBSYSTEM/NAME`` for the provider-scoped ones. Their names are
reserved, so no service code can take them and a path names either a service or a metaservice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.kernel.errors import CodedError

# No "__" inside a part: it is the separator of the file-system slug (MemberId.slug).
_PART = re.compile(r"(?!.*__)[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?")
_VERSION = re.compile(r"v[0-9]{1,4}(?:\.[0-9]{1,4}){0,2}")
LIST_CLIENTS = "listClients"
#: The metaservices that name a provider subsystem.
PROVIDER_METASERVICES = frozenset({"listMethods", "allowedMethods", "getOpenAPI"})
#: Reserved: no service code may be one of these.
METASERVICES = PROVIDER_METASERVICES | {LIST_CLIENTS}


class InvalidIdentifier(CodedError, ValueError):
    """An identifier does not have the required shape or character set."""

    def __init__(self, message: str) -> None:
        super().__init__("Client.InvalidIdentifier", message)


def is_part(text: str) -> bool:
    """Whether ``text`` is one segment of an identifier (an instance, class, member or
    subsystem code)."""
    return bool(_PART.fullmatch(text))


def _parts(text: str, kind: str, sizes: tuple[int, ...]) -> list[str]:
    if not isinstance(text, str) or len(text) > 400:
        raise InvalidIdentifier(f"{kind} identifier is missing or too long")
    parts = text.split("/")
    if len(parts) not in sizes:
        shapes = {
            "member": "INSTANCE/CLASS/MEMBER",
            "client": "INSTANCE/CLASS/MEMBER/SUBSYSTEM",
            "service": "INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE[/VERSION]",
        }
        raise InvalidIdentifier(f"{kind} identifier {text!r} must look like {shapes[kind]}")
    for part in parts:
        if not _PART.fullmatch(part):
            raise InvalidIdentifier(
                f"{kind} identifier {text!r}: part {part!r} must be 1-64 characters of "
                "A-Z a-z 0-9 . _ - starting and ending with a letter or digit, no '__'"
            )
    return parts


@dataclass(frozen=True, order=True)
class MemberId:
    instance: str
    member_class: str
    code: str

    @classmethod
    def parse(cls, text: str) -> MemberId:
        return cls(*_parts(text, "member", (3,)))

    def __str__(self) -> str:
        return f"{self.instance}/{self.member_class}/{self.code}"

    @property
    def slug(self) -> str:
        """A file-system-safe, collision-free name: parts never contain "__"."""
        return str(self).replace("/", "__")


@dataclass(frozen=True, order=True)
class ClientId:
    member: MemberId
    subsystem: str

    @classmethod
    def parse(cls, text: str) -> ClientId:
        *member, subsystem = _parts(text, "client", (4,))
        return cls(MemberId(*member), subsystem)

    def __str__(self) -> str:
        return f"{self.member}/{self.subsystem}"


@dataclass(frozen=True, order=True)
class ServiceId:
    provider: ClientId
    code: str
    version: str | None = None

    @classmethod
    def parse(cls, text: str) -> ServiceId:
        parts = _parts(text, "service", (5, 6))
        version = parts[5] if len(parts) == 6 else None
        if version is not None and not _VERSION.fullmatch(version):
            raise InvalidIdentifier(f"service version {version!r} must look like v1 or v2.1")
        if parts[4] in METASERVICES:
            raise InvalidIdentifier(f"service code {parts[4]!r} is reserved for a metaservice")
        return cls(ClientId(MemberId(*parts[:3]), parts[3]), parts[4], version)

    def __str__(self) -> str:
        base = f"{self.provider}/{self.code}"
        return f"{base}/{self.version}" if self.version else base


@dataclass(frozen=True)
class ServiceTarget:
    """What a ``/r1/...`` request path names: a service and the path below it."""

    service: ServiceId
    subpath: str


def parse_target(path: str) -> ServiceTarget:
    """Split the part of a request path after ``/r1/`` into service and sub-path.

    The sixth segment is a version when it looks like one; everything after is passed to the
    source as its sub-path, each segment held to the same strict character set.
    """
    segments = path.split("/")
    if len(segments) < 5:
        raise InvalidIdentifier(
            "request path must be /r1/INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE[/VERSION][/path]"
        )
    take = 6 if len(segments) > 5 and _VERSION.fullmatch(segments[5]) else 5
    service = ServiceId.parse("/".join(segments[:take]))
    rest = segments[take:]
    for segment in rest:
        if not _PART.fullmatch(segment):
            raise InvalidIdentifier(f"path segment {segment!r} has characters outside the set")
    return ServiceTarget(service, "/".join(rest))


@dataclass(frozen=True)
class MetaTarget:
    """What a metaservice path names: the metaservice, its instance, and its provider (None for
    ``listClients``)."""

    name: str
    instance: str
    provider: ClientId | None = None

    @property
    def service(self) -> str:
        """How the exchange names it (ledger, ``X-Road-Service``): the path after ``/r1/``."""
        return f"{self.provider or self.instance}/{self.name}"


def parse_meta_target(path: str) -> MetaTarget | None:
    """The metaservice the part of a path after ``/r1/`` names, or None when it names none."""
    segments = path.split("/")
    if len(segments) == 2 and segments[1] == LIST_CLIENTS:
        _parts(segments[0], "member", (1,))
        return MetaTarget(LIST_CLIENTS, segments[0])
    if len(segments) == 5 and segments[4] in PROVIDER_METASERVICES:
        provider = ClientId.parse("/".join(segments[:4]))
        return MetaTarget(segments[4], provider.member.instance, provider)
    return None
