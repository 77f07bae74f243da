"""The strict wire (issue 8, docs/protocol.md §1-§3) over real HTTPS: every refusal signed,
ledgered and answered under the request's own X-Road-Id, and typed by the SDK."""

from __future__ import annotations

import httpx
import pytest
from http_message_signatures import HTTPMessageSigner, HTTPSignatureKeyResolver, algorithms

from gateway.devtools import bootstrap
from gateway.kernel import pki
from gateway.kernel.protocol import headers as h
from gateway.kernel.protocol import signing
from services.sdk import EnlaceClient, InvalidRequest
from tests.e2e.helpers import Call, error_code, ledger_entry


@pytest.fixture
def subject(people) -> dict[str, str]:
    return {h.SUBJECT: next(p for p in people if p.estatus_curp == "AN").curp}


def _refused(dev, response: httpx.Response, code: str, status: int, sent_id: str) -> None:
    """A signed refusal under the request's own id, recorded in the ledger as such."""
    assert response.status_code == status, response.text
    assert error_code(response) == code and response.headers[h.ERROR] == code
    assert response.headers[h.ID] == sent_id
    assert response.json()["error"]["exchange_id"] == sent_id
    assert response.headers[h.SIGNATURE].startswith("enlace=:")
    entry = ledger_entry(dev.database, int(response.headers[h.LEDGER_INDEX]))
    assert (entry["error"], entry["status"], entry["exchange_id"]) == (code, status, sent_id)


def _send(http: httpx.Client, call: Call, headers: list[tuple[str, str]]) -> httpx.Response:
    return http.request(call.method, call.url, headers=headers, content=call.body)


def test_percent_encoded_paths_are_invalid_identifiers(dev, gateway_url, http, sep, subject):
    for path in (
        "MX/GOB/RENAPO/curp%2Fconsulta-curp/v1",
        "MX/GOB/RENAPO/%63urp/consulta-curp/v1",
    ):
        call = Call(gateway_url, sep, service=path, headers=subject).sign()
        response = _send(http, call, list(call.headers.items()))
        _refused(dev, response, "Client.InvalidIdentifier", 400, call.headers[h.ID])


@pytest.mark.parametrize("header", [h.SIGNATURE, h.SIGNATURE_INPUT, h.CONTENT_DIGEST])
def test_a_repeated_signature_header_is_refused(dev, gateway_url, http, sep, subject, header):
    call = Call(gateway_url, sep, headers=subject).sign()
    bogus = {
        h.SIGNATURE: "enlace=:" + "A" * 86 + "==:",
        h.SIGNATURE_INPUT: call.headers[h.SIGNATURE_INPUT].replace(
            "nonce=", 'nonce="other1234";x='
        ),
        h.CONTENT_DIGEST: signing.content_digest(b"other"),
    }[header]
    # The bogus value first: the genuine one last must not win.
    headers = [(header, bogus)] + list(call.headers.items())
    response = _send(http, call, headers)
    _refused(dev, response, "Client.InvalidHeader", 400, call.headers[h.ID])


@pytest.mark.parametrize("header", [h.SIGNATURE, h.SIGNATURE_INPUT, h.CONTENT_DIGEST])
def test_a_missing_signature_header_is_a_missing_header(
    dev, gateway_url, http, sep, subject, header
):
    call = Call(gateway_url, sep, headers=subject).sign()
    headers = [(k, v) for k, v in call.headers.items() if k != header]
    _refused(dev, _send(http, call, headers), "Client.MissingHeader", 400, call.headers[h.ID])


def test_malformed_content_digest_is_an_invalid_header(dev, gateway_url, http, sep, subject):
    for digest in ("sha-256=abc", "sha-512=:" + "A" * 86 + "==:", "sha-256=:AAAA:"):
        call = Call(gateway_url, sep, headers=subject).sign()
        headers = list({**call.headers, h.CONTENT_DIGEST: digest}.items())
        _refused(dev, _send(http, call, headers), "Client.InvalidHeader", 400, call.headers[h.ID])


class _Key(HTTPSignatureKeyResolver):
    def __init__(self, key) -> None:
        self.key = key

    def resolve_private_key(self, key_id: str):
        return self.key


@pytest.mark.parametrize(
    "components",
    [
        # Another order, and an extra component: valid RFC 9421, not Enlace's profile.
        (
            signing.REQUEST_COMPONENTS[1],
            signing.REQUEST_COMPONENTS[0],
            *signing.REQUEST_COMPONENTS[2:],
        ),
        (*signing.REQUEST_COMPONENTS, "host"),
    ],
)
def test_other_covered_components_are_refused(dev, gateway_url, http, sep, subject, components):
    call = Call(gateway_url, sep, headers=subject)
    message = signing.Request(call.method, call.url, dict(call.headers))
    message.headers["Host"] = call.url.split("/")[2]
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ECDSA_P256_SHA256, key_resolver=_Key(sep.key)
    )
    signer.sign(
        message,
        key_id=pki.keyid(sep.cert),
        label=signing.LABEL,
        nonce=signing.new_nonce(),
        covered_component_ids=components,
        body=b"",
    )
    response = _send(http, call, list(message.headers.items()))
    _refused(dev, response, "Client.InvalidSignature", 401, call.headers[h.ID])


@pytest.mark.parametrize("method", ["DELETE", "PUT", "OPTIONS", "PATCH"])
def test_other_methods_get_a_signed_ledgered_refusal(dev, gateway_url, http, sep, subject, method):
    call = Call(gateway_url, sep, method=method, headers=subject).sign()
    response = _send(http, call, list(call.headers.items()))
    _refused(dev, response, "Client.MethodNotAllowed", 405, call.headers[h.ID])
    unsigned = http.request(method, call.url)
    assert unsigned.status_code == 405 and error_code(unsigned) == "Client.MethodNotAllowed"
    assert h.SIGNATURE in unsigned.headers and h.LEDGER_INDEX in unsigned.headers


def test_the_sdk_types_early_refusals(dev, gateway_url, subject):
    """Early refusals keep the request's X-Road-Id, so the SDK verifies them and raises the
    typed error rather than ResponseVerificationError."""
    cases = [
        ({"path": "a%2Fb"}, "Client.InvalidIdentifier"),
        ({"method": "DELETE"}, "Client.MethodNotAllowed"),
        (
            {"method": "POST", "body": {"x": "y" * (dev.settings.max_body + 1)}},
            "Client.BodyTooLarge",
        ),
    ]
    with EnlaceClient.from_pki(gateway_url, str(bootstrap.BECAS), dev.pki.root) as client:
        for extra, code in cases:
            with pytest.raises(InvalidRequest) as refused:
                client.call(
                    str(bootstrap.CURP_SERVICE),
                    purpose=bootstrap.BECAS_PURPOSE,
                    legal_basis=bootstrap.BECAS_LEGAL_BASIS,
                    user_id="MX-SEP-000123",
                    issue="BECA-2026-1",
                    exchange_id=f"wire-{code}",
                    subject=subject[h.SUBJECT],
                    **extra,
                )
            assert refused.value.code == code
            assert refused.value.exchange_id == f"wire-{code}"
            assert refused.value.receipt is not None


def test_openapi_names_every_signed_header(dev, gateway_url, http):
    document = http.get(f"{gateway_url}/v1/services/{bootstrap.CURP_SERVICE}/openapi.json").json()
    (operation,) = document["paths"].values()
    parameters = next(iter(operation.values()))["parameters"]
    headers = {p["name"]: p["required"] for p in parameters if p["in"] == "header"}
    for name in (*h.REQUIRED_REQUEST, *h.SIGNATURE_HEADERS):
        assert headers.get(name) is True, name


@pytest.mark.parametrize("content_type", ["text/plain", None])
def test_a_body_is_sent_as_json_or_refused(dev, gateway_url, http, sep, content_type):
    body = b'{"nombres":"ANA","primerApellido":"LOPEZ"}'
    call = Call(
        gateway_url,
        sep,
        service=str(bootstrap.DATOS_SERVICE),
        method="POST",
        body=body,
        headers={h.SUBJECT: h.UNKNOWN_SUBJECT},
    )
    if content_type is None:
        del call.headers["Content-Type"]
    else:
        call.headers["Content-Type"] = content_type
    response = _send(http, call.sign(), list(call.headers.items()))
    _refused(dev, response, "Client.InvalidHeader", 400, call.headers[h.ID])
    assert "application/json" in response.json()["error"]["message"]
