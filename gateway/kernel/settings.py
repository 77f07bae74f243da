"""Settings, read from ``ENLACE_*`` environment variables with embedded-mode defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///var/enlace.db"
    pki_dir: Path = Path("certs")
    instance: str = "MX"
    #: Largest request body accepted, in bytes.
    max_body: int = 1024 * 1024
    #: Time allowed for a trusted source to answer, in seconds.
    source_timeout: float = 10.0
    #: If set, only these Host values are accepted (the signature covers the authority).
    public_hosts: tuple[str, ...] = field(default_factory=tuple)
    #: The URL clients use when a TLS-terminating proxy sits in front (``https://host[:port]``);
    #: the signed target URI is rebuilt from it instead of the scheme served and the Host header.
    public_url: str | None = None
    #: How often a running gateway checks the registry for changes, in seconds.
    registry_poll: float = 1.0
    #: After this many seconds without a successful registry check, exchanges are refused:
    #: a revocation the gateway cannot see must not keep working.
    registry_max_age: float = 30.0
    #: How often a running gateway signs a ledger checkpoint if the tree grew, in seconds.
    checkpoint_interval: float = 2.0
    #: Citizen login (docs/citizen.md): SAT CA certificates to trust (self-signed ones are the
    #: anchors; default ``<pki_dir>/sat/trust``), pinned OCSP responder certificates (optional),
    #: SAT's OCSP responder (without it no citizen can log in: revocation fails closed), and the
    #: lifetimes of a login challenge and of a session token, in seconds.
    citizen_sat_trust_dir: Path | None = None
    citizen_ocsp_responders_dir: Path | None = None
    citizen_ocsp_url: str | None = None
    citizen_challenge_ttl: int = 120
    citizen_token_ttl: int = 900
    #: Challenge and login requests per client address (IPv6: per /64): ``burst`` at once,
    #: regained at ``per_minute``; beyond that ``citizen.rate_limited`` (429). 0 turns it off.
    citizen_attempts_per_minute: float = 30.0
    citizen_attempts_burst: int = 20

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        values: dict[str, object] = {}
        if "ENLACE_DATABASE_URL" in env:
            values["database_url"] = env["ENLACE_DATABASE_URL"]
        if "ENLACE_PKI_DIR" in env:
            values["pki_dir"] = Path(env["ENLACE_PKI_DIR"])
        if "ENLACE_INSTANCE" in env:
            values["instance"] = env["ENLACE_INSTANCE"]
        if "ENLACE_MAX_BODY" in env:
            values["max_body"] = int(env["ENLACE_MAX_BODY"])
        if "ENLACE_SOURCE_TIMEOUT" in env:
            values["source_timeout"] = float(env["ENLACE_SOURCE_TIMEOUT"])
        if "ENLACE_CHECKPOINT_INTERVAL" in env:
            values["checkpoint_interval"] = float(env["ENLACE_CHECKPOINT_INTERVAL"])
        for name, kind in (
            ("citizen_sat_trust_dir", Path),
            ("citizen_ocsp_responders_dir", Path),
            ("citizen_ocsp_url", str),
            ("citizen_challenge_ttl", int),
            ("citizen_token_ttl", int),
            ("citizen_attempts_per_minute", float),
            ("citizen_attempts_burst", int),
        ):
            if env.get(f"ENLACE_{name.upper()}"):
                values[name] = kind(env[f"ENLACE_{name.upper()}"])
        if env.get("ENLACE_PUBLIC_HOSTS"):
            hosts = (host.strip() for host in env["ENLACE_PUBLIC_HOSTS"].split(","))
            values["public_hosts"] = tuple(host for host in hosts if host)
        if env.get("ENLACE_PUBLIC_URL"):
            values["public_url"] = env["ENLACE_PUBLIC_URL"].strip().rstrip("/")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
