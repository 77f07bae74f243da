"""The gateway's settings: every setting and operating limit an operator may tune, in one object.

Each field ``name`` is read from the environment variable ``ENLACE_<NAME>`` by
``Settings.from_env``; an empty variable counts as unset. The defaults are the embedded mode
(SQLite, the development PKI in ``certs/``). Each field's description is the line
docs/operations.md shows for it: ``python -m gateway.devtools.doctables`` rewrites that
table and ``tests/unit/test_settings.py`` keeps the two equal.

Constructing ``Settings(...)`` directly (tests, the demo) takes the defaults and the arguments
only, never the environment. Bounds that are protocol facts (the signature window, header sizes
in docs/protocol.md) are not settings: they stay constants in the modules that enforce them.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from gateway.kernel import ids
from gateway.kernel.errors import CodedError
from gateway.kernel.ledger import checkpoint

ENV_PREFIX = "ENLACE_"

# The catalogue of service contracts at the top of the repository (editable install).
_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


class SettingsError(CodedError):
    """A setting has a value the gateway cannot use; the message names its variable."""


def _setting(default: Any, doc: str, *, shown: str | None = None, **bounds: Any) -> Any:
    """A field with its one-line doc; ``shown`` is the default as the docs table words it, for
    defaults that are not a plain value (a derived path, "any")."""
    extra: dict[str, Any] | None = {"shown_default": shown} if shown is not None else None
    return Field(default, description=doc, json_schema_extra=extra, **bounds)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, extra="forbid"
    )

    database_url: str = _setting(
        "sqlite:///var/enlace.db",
        "SQLAlchemy URL; `postgresql://user@host/db` selects PostgreSQL (psycopg 3)",
    )
    db_connect_timeout: int = _setting(
        10, "PostgreSQL: seconds to establish a connection before giving up", gt=0
    )
    db_statement_timeout: float = _setting(
        30.0, "PostgreSQL: seconds a statement may run before the server cancels it", gt=0
    )
    db_keepalive: int = _setting(
        15,
        "PostgreSQL: seconds of silence before a TCP keepalive probe; a link dead for about "
        "three times this is dropped instead of blocking the writer",
        gt=0,
    )
    allow_unsafe_db: bool = _setting(
        False,
        "start even if PostgreSQL has `fsync` or `synchronous_commit` off "
        "(acknowledged exchanges could be lost on a crash)",
    )
    pki_dir: Path = _setting(
        Path("certs"), "the PKI directory (`gateway/kernel/pki.py` documents its layout)"
    )
    instance: str = _setting("MX", "instance code, first part of every identifier", min_length=1)
    schema_dir: Path = _setting(
        _SCHEMAS,
        "the catalogue of service contracts (`gateway/kernel/schemas.py` documents its layout)",
        shown="`schemas/` of the installation",
    )
    actor: str | None = _setting(
        None,
        "who the admin CLI records as the author of a registry change",
        shown="`os:<user>`",
    )
    max_body: int = _setting(1024 * 1024, "largest request body, bytes", gt=0)
    source_timeout: float = _setting(10.0, "seconds a trusted source has to answer", gt=0)
    public_hosts: Annotated[tuple[str, ...], NoDecode] = _setting(
        (), "comma-separated `Host` values the gateway accepts", shown="(any)"
    )
    public_url: str | None = _setting(
        None,
        "`https://host[:port]` clients use, when a TLS-terminating proxy is in front: "
        "the signed target URI is rebuilt from it",
    )
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = _setting(
        (),
        "comma-separated addresses or networks (CIDR) of the reverse proxies in front: only "
        "from these is `X-Forwarded-For`/`-Proto` believed (the client's address for every "
        "per-address limit), and their connections are not capped per address",
        shown="(none: forwarding headers are ignored)",
    )
    registry_poll: float = _setting(
        1.0, "seconds between a running gateway's checks of the registry for changes", gt=0
    )
    registry_max_age: float = _setting(
        30.0,
        "seconds without a successful registry check after which exchanges are refused "
        "(a revocation the gateway cannot see must not keep working)",
        gt=0,
    )
    checkpoint_interval: float = _setting(
        2.0, "seconds between ledger checkpoints, signed when the tree grew", gt=0
    )
    signer_process: bool = _setting(
        True,
        "fold the subject map and sign checkpoints in a child process of the signing gateway "
        "(0: in a thread of its own process; an in-memory SQLite database always is)",
    )
    witnesses: Annotated[tuple[str, ...], NoDecode] = _setting(
        (),
        "comma-separated `URL VKEY` pairs: the C2SP tlog-witnesses each new checkpoint is "
        "submitted to (submission prefix, cosignature verifier key), in the background",
        shown="(none)",
    )
    witness_timeout: float = _setting(
        10.0, "seconds one submission to a witness may take, connection included", gt=0
    )
    witness_max_backoff: float = _setting(
        60.0,
        "most seconds between retries to a witness that failed or refused (the wait doubles "
        "from `ENLACE_CHECKPOINT_INTERVAL` after each failure)",
        gt=0,
    )
    ledger_max_batch: int = _setting(
        512, "most ledger entries the group-commit writer stores in one transaction", gt=0
    )
    ledger_max_pending: int = _setting(
        50_000,
        "most ledger entries waiting to be stored; beyond it `503 Server.LedgerUnavailable`",
        gt=0,
    )
    ledger_commit_timeout: float = _setting(
        30.0,
        "seconds a request waits for its ledger entry to commit before "
        "`503 Server.LedgerUnavailable` (see Known limits)",
        gt=0,
    )
    redis_url: str | None = _setting(
        None,
        "`redis://host:port/db`: replay claims shared by every gateway kept in Redis "
        "(`SET NX PX`) instead of PostgreSQL's `replay_claims` table, and each client's rate "
        "one budget for every gateway (GCRA) instead of one per process",
    )
    redis_timeout: float = _setting(
        2.0,
        "seconds a Redis round trip may take before `503 Server.ReplayUnavailable` (a rate: "
        "decided by this process alone)",
        gt=0,
    )
    max_inflight: int = _setting(
        1000,
        "exchanges in flight at once; beyond it `503 Server.Overloaded` at once, signed, "
        "not ledgered (keep it below `ENLACE_MAX_CONCURRENCY`)",
        gt=0,
    )
    client_rate: float = _setting(
        50.0,
        "exchanges a second a client subsystem regains (its own: `enlace client limit`); "
        "beyond it `429 Client.RateLimited`",
        gt=0,
    )
    client_burst: int = _setting(
        100, "exchanges a client subsystem may send at once above its rate", gt=0
    )
    client_concurrency: int = _setting(
        32, "exchanges of one client subsystem in flight at once; beyond it a 429", gt=0
    )
    client_throttle_delay: float = _setting(
        1.0,
        "seconds at most a verified client's `429 Client.RateLimited` is held before it is "
        "sent (at most its `Retry-After`; no in-flight slot is taken meanwhile): a flooding "
        "client is slowed to its connections ÷ this; 0 sends at once",
        ge=0,
    )
    client_throttle_max_held: int = _setting(
        1000,
        "such refusals held at once; beyond it they are sent at once (keep it below "
        "`ENLACE_MAX_CONCURRENCY`)",
        gt=0,
    )
    unsigned_per_minute: float = _setting(
        60.0,
        "requests whose signature did not verify that one address (IPv6: its /64) may have "
        "ledgered one by one per minute; beyond it `429 Client.RateLimited`, counted in "
        "aggregate",
        gt=0,
    )
    unsigned_burst: int = _setting(
        30, "such requests one address may have ledgered at once above that rate", gt=0
    )
    unsigned_flood_interval: float = _setting(
        60.0,
        "seconds between the aggregate ledger entries of unsigned floods (one per address "
        "with its count)",
        gt=0,
    )
    max_concurrency: int = _setting(
        2000, "connections and requests served at once; beyond it the HTTP server answers 503", gt=0
    )
    keep_alive: int = _setting(30, "seconds an idle keep-alive connection stays open", gt=0)
    header_timeout: float = _setting(
        10.0,
        "seconds a connection has to send a request's complete headers (from its opening, or "
        "from its first byte after a response); then it is closed",
        gt=0,
    )
    body_timeout: float = _setting(
        30.0,
        "seconds an exchange request's body has to arrive after its headers; then "
        "`400 Client.BadRequest`",
        gt=0,
    )
    max_connections_per_address: int = _setting(
        256,
        "connections one client address (IPv6: its /64) may hold open; more are closed at "
        "once (a trusted proxy's are not capped: it caps per client itself)",
        gt=0,
    )
    graceful_shutdown: int = _setting(
        10,
        "seconds an exiting gateway (SIGTERM) waits for requests in flight and connections "
        "to close before it cancels them and stops",
        gt=0,
    )
    citizen_sat_trust_dir: Path | None = _setting(
        None,
        "citizen login: SAT CA certificates to trust (the self-signed ones are the anchors)",
        shown="`<pki_dir>/sat/trust`",
    )
    citizen_ocsp_responders_dir: Path | None = _setting(
        None, "citizen login: pinned OCSP responder certificates"
    )
    citizen_ocsp_url: str | None = _setting(
        None,
        "citizen login: SAT's OCSP responder; without it no citizen can log in "
        "(revocation fails closed)",
    )
    citizen_ocsp_timeout: float = _setting(
        3.0, "citizen login: seconds for the OCSP round trip", gt=0
    )
    citizen_challenge_ttl: int = _setting(
        120, "citizen login: seconds a login challenge stays valid", gt=0
    )
    citizen_token_ttl: int = _setting(
        900, "citizen view: seconds a session token stays valid", gt=0
    )
    citizen_attempts_per_minute: float = _setting(
        30.0,
        "citizen login: challenge and login requests a client address (IPv6: its /64) regains "
        "per minute; 0 turns the limit off",
        ge=0,
    )
    citizen_attempts_burst: int = _setting(
        20,
        "citizen login: such requests a client address may make at once; beyond that "
        "`429 citizen.rate_limited`; 0 turns the limit off",
        ge=0,
    )
    citizen_time_zone: str = _setting(
        "America/Mexico_City",
        "citizen page: the IANA time zone its times are shown in (with the zone named)",
    )
    citizen_operator: str = _setting(
        "el operador de esta instancia de Enlace",
        "citizen page: who is responsible for the personal data it handles (aviso de privacidad)",
    )
    citizen_help_contact: str | None = _setting(
        None, "citizen page: the instance's help line (phone, e-mail or URL) shown on every view"
    )
    citizen_arco_contact: str | None = _setting(
        None,
        "citizen page: where ARCO requests (access, rectification, cancellation, opposition) "
        "to the instance go, e.g. its Unidad de Transparencia",
    )
    citizen_privacy_url: str | None = _setting(
        None, "citizen page: link to the instance's full aviso de privacidad (integral)"
    )
    citizen_checkpoint_key_url: str | None = _setting(
        None,
        "citizen page: where the operator publishes the ledger's checkpoint key, beyond this "
        "gateway's `/.well-known/enlace/trust` (e.g. the Diario Oficial or a transparency portal)",
    )

    citizen_trust_file: Path | None = _setting(
        None,
        "citizen page: the trust document (`trust.json`: checkpoint and witness keys, quorum; "
        "docs/trust.md) the operator deploys beside the page, served as its static "
        "`/ciudadano/trust.json`; the page pins its keys from it",
        shown="`<pki_dir>/trust.json`",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only the arguments: ``from_env`` is the one place that reads the environment.
        return (init_settings,)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """The settings from ``ENLACE_*`` variables; ``overrides`` that are not ``None`` (the
        command-line options) win over them."""
        values: dict[str, Any] = EnvSettingsSource(cls)()
        values.update({name: value for name, value in overrides.items() if value is not None})
        try:
            return cls(**values)
        except ValidationError as exc:
            raise SettingsError("config.invalid", _describe(exc)) from None

    @field_validator("public_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(host for host in (part.strip() for part in value.split(",")) if host)
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _check_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        networks = []
        for item in value:
            try:  # "*" or a name is refused: trust must be a list of places, fail closed
                networks.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError as exc:
                raise ValueError(f"{item!r} is not an IP address or network") from exc
        return tuple(networks)

    @field_validator("witnesses", mode="before")
    @classmethod
    def _split_witnesses(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(entry for entry in (part.strip() for part in value.split(",")) if entry)
        return value

    @field_validator("witnesses")
    @classmethod
    def _check_witnesses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            url, _, vkey = entry.partition(" ")
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc or not vkey.strip():
                raise ValueError(f"{entry!r} must be `http(s)://host[:port][/prefix] VKEY`")
            try:
                checkpoint.CosignatureVerifier.from_vkey(vkey.strip())
            except checkpoint.KeyFormatError as exc:
                raise ValueError(f"witness {url}: {exc}") from None
        return value

    @field_validator("citizen_time_zone")
    @classmethod
    def _check_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("must be an IANA time zone such as America/Mexico_City") from exc
        return value

    @field_validator("instance")
    @classmethod
    def _check_instance(cls, value: str) -> str:
        if not ids.is_part(value):
            raise ValueError("must be one identifier segment (letters, digits, . _ -), e.g. MX")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must be redis://host:port/db, rediss://… or unix://…")
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = value.strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
            raise ValueError("must be http(s)://host[:port]")
        return url


def env_var(name: str) -> str:
    """The environment variable of the setting ``name``."""
    return ENV_PREFIX + name.upper()


def _describe(exc: ValidationError) -> str:
    """One line per bad value, each naming the variable it came from."""
    problems = []
    for error in exc.errors(include_url=False):
        name = str(error["loc"][0]) if error["loc"] else "?"
        problem = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            problems.append(f"{name}: there is no such setting")
        else:
            problems.append(f"{env_var(name)}={error['input']!r}: {problem}")
    return "bad setting: " + "; ".join(problems)


def _shown_default(name: str) -> str:
    field = Settings.model_fields[name]
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "shown_default" in extra:
        return str(extra["shown_default"])
    value = field.default
    if value is None:
        return "(none)"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def markdown_table() -> str:
    """The settings table of docs/operations.md: variable, default, meaning."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        lines.append(f"| `{env_var(name)}` | {_shown_default(name)} | {field.description} |")
    return "\n".join(lines) + "\n"
