"""The SAT part of the development PKI (``enlace pki sat-init``): CA, credentials, status file.

Owns the on-disk layout that the dev SAT source, its OCSP responder, ``enlace efirma check`` and
the example agency apps share, and filling it with e.firma credentials for synthetic adult
citizens of ``gateway.devtools.population`` (their CURP, RFC, name and e-mail), some revoked and
some expired, plus one CSD and one persona moral. Certificates and keys come from
``gateway.devtools.sat_ca`` in SAT's formats (``.cer`` DER, ``.key`` PKCS#8 PBES2/3DES).

    <pki>/sat/ca/            root, issuing CA and OCSP responder certificates and keys
    <pki>/sat/trust/         root.pem, ca.pem: the SAT source's ``trust_dir``
    <pki>/sat/credentials/   <RFC>-fiel.cer/.key, <RFC>-csd.cer/.key (password in README.md)
    <pki>/sat/status.json    revocation status, read by the OCSP responder
    <pki>/sat/index.json     what each credential is (kind, holder, serial, state)
    <pki>/sat/README.md      the same for people, with the keys' password

Dev/test only: all keys are protected by one published password.
"""

from __future__ import annotations

import json
import shutil
import unicodedata
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gateway.devtools import sat_ca as devca
from gateway.devtools.population import generate
from gateway.kernel.curp import is_active
from trusted_sources.records import Person

PASSWORD = "12345678a"  # SAT's published password for its test keys, used here for all
FOUR_YEARS = timedelta(days=4 * 365)
ADULT_AGE = 18
MORAL_RFC = "CEN200115K21"
MORAL_NAME = "COMERCIALIZADORA ENLACE DEMO SA DE CV"
_CA_BACKDATE = timedelta(days=6 * 365)
_CA_KEYS = 3  # root, issuing CA, OCSP responder

State = Literal["valid", "revoked", "expired"]


class SatPkiExists(Exception):
    """The directory already holds a SAT dev PKI."""


@dataclass(frozen=True)
class Credential:
    """One issued certificate, as ``index.json`` lists it."""

    stem: str  # file name without .cer/.key
    kind: Literal["efirma", "csd"]
    persona: Literal["fisica", "moral"]
    rfc: str
    curp: str  # holder's, or the representative's for a persona moral
    name: str
    serial: str  # No. de certificado
    state: State


@dataclass(frozen=True)
class SatDevPki:
    root: Path

    @property
    def ca_dir(self) -> Path:
        return self.root / "ca"

    @property
    def trust_dir(self) -> Path:
        return self.root / "trust"

    @property
    def credentials_dir(self) -> Path:
        return self.root / "credentials"

    @property
    def status_file(self) -> Path:
        return self.root / "status.json"

    @property
    def index_file(self) -> Path:
        return self.root / "index.json"

    def exists(self) -> bool:
        return self.index_file.exists()

    def cer(self, credential: Credential) -> Path:
        return self.credentials_dir / f"{credential.stem}.cer"

    def key(self, credential: Credential) -> Path:
        return self.credentials_dir / f"{credential.stem}.key"

    def credentials(self) -> list[Credential]:
        return [Credential(**item) for item in json.loads(self.index_file.read_bytes())]

    def find(self, *, kind: str = "efirma", persona: str = "fisica", state: str) -> Credential:
        """The first credential with these properties (``KeyError`` if there is none)."""
        for credential in self.credentials():
            if (credential.kind, credential.persona, credential.state) == (kind, persona, state):
                return credential
        raise KeyError(f"no {state} {kind} of a persona {persona}")


def adults(people: Iterator[Person], today: date) -> Iterator[Person]:
    """Mexican citizens with an active CURP who are of age on ``today``."""
    for person in people:
        born = person.fecha_nacimiento
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        if person.nacionalidad == "MEX" and is_active(person.estatus_curp) and age >= ADULT_AGE:
            yield person


def create(
    root: Path,
    *,
    citizens: int = 1000,
    seed: int = 0,
    count: int = 10,
    revoked: int = 2,
    expired: int = 2,
    now: datetime | None = None,
    pool: devca.KeyPool | None = None,
    force: bool = False,
) -> SatDevPki:
    """Create the SAT dev PKI under ``root`` for ``count`` adults of ``generate(citizens, seed)``.

    ``pool`` supplies every key (CA keys included) when given, e.g. one pool per test session;
    it must hold a distinct key per certificate, or one citizen's signature would verify under
    another's certificate. Without it the CAs get fresh RSA-3072 keys and the citizens a pool of
    distinct RSA-2048 keys.
    """
    if count < revoked + expired + 2:
        raise ValueError("count must leave at least two valid e.firma (CSD and representative)")
    layout = SatDevPki(root)
    if root.exists() and any(root.iterdir()) and not force:
        raise SatPkiExists(f"{root} is not empty (use force to replace it)")
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    leaves = count + 2  # + one CSD + one persona moral
    if pool is not None and len(pool) < leaves + _CA_KEYS:
        raise ValueError(f"the key pool needs {leaves + _CA_KEYS} distinct keys")
    keys = pool if pool is not None else devca.KeyPool(leaves)
    ca = devca.create_dev_ca(
        not_before=now - _CA_BACKDATE,
        ocsp_validity=timedelta(days=10 * 365),
        root_key=pool.take() if pool is not None else None,
        ca_key=pool.take() if pool is not None else None,
        ocsp_key=pool.take() if pool is not None else None,
    )

    if root.exists():
        shutil.rmtree(root)  # only reached with force, or when it is empty
    layout.credentials_dir.mkdir(parents=True)
    ca.save(layout.ca_dir)
    layout.trust_dir.mkdir()
    for name, cert in (("root.pem", ca.root_cert), ("ca.pem", ca.ca_cert)):
        (layout.trust_dir / name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    chosen = _spread(list(adults(generate(citizens, seed), now.date())), count)
    if len(chosen) < count:
        raise ValueError(f"only {len(chosen)} adults among {citizens} citizens")
    amounts: dict[State, int] = {
        "valid": count - revoked - expired,
        "revoked": revoked,
        "expired": expired,
    }
    states = [state for state, amount in amounts.items() for _ in range(amount)]
    credentials: list[Credential] = []
    status: dict[str, dict[str, str]] = {}

    def save(credential: Credential, issued: devca.Issued) -> None:
        layout.cer(credential).write_bytes(
            issued.certificate.public_bytes(serialization.Encoding.DER)
        )
        layout.key(credential).write_bytes(devca.export_key_sat(issued.key, PASSWORD.encode()))
        credentials.append(credential)
        entry = {"status": "good"}
        if credential.state == "revoked":
            entry = {
                "status": "revoked",
                "revoked_at": (now - timedelta(days=30)).isoformat(),
                "reason": x509.ReasonFlags.key_compromise.value,
            }
        status[credential.serial] = entry

    for index, (person, state) in enumerate(zip(chosen, states, strict=True), start=1):
        start = now - timedelta(days=5 * 365) if state == "expired" else now - timedelta(days=90)
        serial = f"300010000005{index:08d}"
        issued = devca.issue_efirma(
            ca,
            rfc=person.rfc,
            curp=person.curp,
            name=sat_name(person),
            email=person.email,
            serial20=serial,
            not_before=start,
            not_after=start + FOUR_YEARS,
            key=keys.take(),
        )
        save(
            Credential(
                f"{person.rfc}-fiel",
                "efirma",
                "fisica",
                person.rfc,
                person.curp,
                sat_name(person),
                serial,
                state,
            ),
            issued,
        )

    holder, representative = chosen[0], chosen[1]
    start = now - timedelta(days=90)
    csd_serial = "30001000000400000001"
    csd = devca.issue_csd(
        ca,
        rfc=holder.rfc,
        name=sat_name(holder),
        branch=f"CSD01_{holder.rfc}",
        serial20=csd_serial,
        curp=holder.curp,
        not_before=start,
        not_after=start + FOUR_YEARS,
        key=keys.take(),
    )
    save(
        Credential(
            f"{holder.rfc}-csd",
            "csd",
            "fisica",
            holder.rfc,
            holder.curp,
            sat_name(holder),
            csd_serial,
            "valid",
        ),
        csd,
    )
    moral_serial = f"300010000005{count + 1:08d}"
    moral = devca.issue_efirma_moral(
        ca,
        rfc=MORAL_RFC,
        name=MORAL_NAME,
        email="contacto@enlace-demo.example.mx",
        representative_rfc=representative.rfc,
        representative_curp=representative.curp,
        serial20=moral_serial,
        not_before=start,
        not_after=start + FOUR_YEARS,
        key=keys.take(),
    )
    save(
        Credential(
            f"{MORAL_RFC}-fiel",
            "efirma",
            "moral",
            MORAL_RFC,
            representative.curp,
            MORAL_NAME,
            moral_serial,
            "valid",
        ),
        moral,
    )

    layout.status_file.write_text(json.dumps({"certificates": status}, indent=2) + "\n")
    layout.index_file.write_text(
        json.dumps([asdict(c) for c in credentials], ensure_ascii=False, indent=2) + "\n"
    )
    (layout.root / "README.md").write_text(_readme(credentials), encoding="utf-8")
    return layout


def sat_name(person: Person) -> str:
    """The name as SAT writes it: capitals, no accents (Ñ kept), given names first."""
    parts = [person.nombres, person.primer_apellido, person.segundo_apellido or ""]
    text = " ".join(p for p in parts if p).upper().replace("Ñ", "\0")
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return plain.replace("\0", "Ñ")


def _spread(people: list[Person], count: int) -> list[Person]:
    """``count`` people evenly spread over the list (all ages, not only the oldest)."""
    if len(people) <= count:
        return people
    step = len(people) / count
    return [people[int(i * step)] for i in range(count)]


def _readme(credentials: list[Credential]) -> str:
    rows = "\n".join(
        f"| `{c.stem}` | {c.kind} | {c.persona} | {c.rfc} | {c.curp} | {c.name} | {c.serial} "
        f"| {c.state} |"
        for c in credentials
    )
    return f"""# SAT development PKI (synthetic data, no legal value)

Made by `enlace pki sat-init`. Every `.key` here is a SAT-format private key (PKCS#8,
PBES2/3DES) protected by the password **`{PASSWORD}`**. The CA keys in `ca/` are unencrypted.

- `trust/`: the SAT CA certificates the SAT source trusts (its `trust_dir` option)
- `status.json`: revocation status answered by `enlace source run sat-ocsp`
- `index.json`: the table below, for programs

| file | kind | persona | RFC | CURP (holder/representative) | name | No. certificado | state |
|---|---|---|---|---|---|---|---|
{rows}
"""
