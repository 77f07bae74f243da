"""Citizen test helpers: e.firma files and logging in as the page does (sign in the client)."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from gateway.devtools import bootstrap
from gateway.devtools import sat_pki as devpki
from gateway.kernel.efirma import certificate as efirma
from services.sdk import EnlaceClient


@dataclass(frozen=True)
class Efirma:
    """A citizen's e.firma files, as they would pick them in the browser."""

    cer: bytes
    key: bytes
    password: str
    curp: str


def files(sat: devpki.SatDevPki, found: devpki.Credential) -> Efirma:
    return Efirma(
        sat.cer(found).read_bytes(), sat.key(found).read_bytes(), devpki.PASSWORD, found.curp
    )


def credential(sat: devpki.SatDevPki, **wanted: str) -> Efirma:
    """The first credential of the SAT dev PKI with these properties (kind, persona, state)."""
    return files(sat, sat.find(**wanted))


def sign(efirma_files: Efirma, text: str) -> str:
    """What the page does in the browser: open the SAT .key and sign the challenge."""
    key = efirma.load_key(efirma_files.key, efirma_files.password.encode())
    signature = key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def challenge(http: httpx.Client, url: str) -> str:
    response = http.post(f"{url}/v1/citizen/challenge")
    assert response.status_code == 200, response.text
    return response.json()["challenge"]


def login_response(
    http: httpx.Client, url: str, who: Efirma, *, text: str | None = None, signed: str | None = None
) -> httpx.Response:
    """Log in; ``text`` is the challenge presented, ``signed`` the one signed (default: same)."""
    text = text or challenge(http, url)
    body = {
        "challenge": text,
        "certificate": base64.b64encode(who.cer).decode(),
        "signature": sign(who, signed or text),
    }
    return http.post(f"{url}/v1/citizen/login", json=body)


def login(http: httpx.Client, url: str, who: Efirma) -> str:
    response = login_response(http, url, who)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def error_code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


#: The instance's help line, ARCO contact and privacy notice the citizen page shows.
HELP = "800 000 0000 (lunes a viernes, 9 a 18 h)"
ARCO = "Unidad de Transparencia · transparencia@enlace.ejemplo.gob.mx"
PRIVACY_URL = "https://enlace.ejemplo.gob.mx/aviso-de-privacidad"

PASSPORT_PURPOSE = "pasaporte-expedicion"
PASSPORT_BASIS = "LP-art-12"


def consult(
    dev: bootstrap.DevInstance,
    url: str,
    citizen: Efirma,
    *,
    client: str = str(bootstrap.BECAS),
    user_id: str = "MX-SEP-000123",
    issue: str = "BECA-2026-7",
) -> int:
    """One exchange about the citizen through the SDK; its ledger index."""
    becas = client == str(bootstrap.BECAS)
    with EnlaceClient.from_pki(url, client, dev.pki.root) as sdk:
        result = sdk.call(
            str(bootstrap.CURP_SERVICE),
            subject=citizen.curp,
            purpose=bootstrap.BECAS_PURPOSE if becas else PASSPORT_PURPOSE,
            legal_basis=bootstrap.BECAS_LEGAL_BASIS if becas else PASSPORT_BASIS,
            user_id=user_id,
            issue=issue,
        )
    return result.ledger_index
