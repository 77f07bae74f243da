"""A citizen's access log over real HTTPS: their entries only, with proofs, paging, filters,
CSV, the proof bundle, and covert entries that appear only once disclosed."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from gateway.devtools import bootstrap
from gateway.kernel.ledger import bundle, checkpoint, merkle, record
from gateway.kernel.protocol import headers as h
from gateway.server import citizen_auth as auth
from gateway.storage import registry
from gateway.storage.ledger import queries
from services.sdk.errors import GatewayError
from tests.citizen.helpers import PASSPORT_BASIS, PASSPORT_PURPOSE, consult, error_code, login


def grant_passports(
    dev: bootstrap.DevInstance, http: httpx.Client, url: str, hidden_until: dt.date | None
) -> None:
    """Let SRE consult CURPs (covertly until ``hidden_until``) and wait for the gateway."""
    registry.grant(
        dev.database,
        bootstrap.PASAPORTES,
        bootstrap.CURP_SERVICE,
        [PASSPORT_PURPOSE],
        [PASSPORT_BASIS],
        hidden_until=hidden_until,
    )
    with dev.database.read.connect() as conn:
        version = registry.version(conn)
    deadline = time.monotonic() + 120  # generous: polls end as soon as it holds
    while http.get(f"{url}/healthz").json()["registry_version"] < version:
        assert time.monotonic() < deadline, "gateway did not reload the registry"
        time.sleep(0.05)


def accesses(http: httpx.Client, url: str, token: str, **params: object) -> httpx.Response:
    return http.get(
        f"{url}/v1/citizen/accesses",
        params={k: str(v) for k, v in params.items()},
        headers={"Authorization": f"Bearer {token}"},
    )


def entries(http: httpx.Client, url: str, token: str, **params: object) -> list[dict]:
    response = accesses(http, url, token, **params)
    assert response.status_code == 200, response.text
    return response.json()["entries"]


def exchange_indexes(rows: list[dict]) -> list[int]:
    return [row["index"] for row in rows if row["kind"] == "exchange"]


def test_citizen_sees_their_accesses_each_with_a_verifying_proof(
    dev, gateway_url, http, valid_efirmas
):
    alice, bob = valid_efirmas
    mine = [consult(dev, gateway_url, alice, issue=f"BECA-{n}") for n in range(2)]
    consult(dev, gateway_url, bob)
    token = login(http, gateway_url, alice)

    response = accesses(http, gateway_url, token)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    page = response.json()
    rows = page["entries"]
    assert exchange_indexes(rows) == sorted(mine, reverse=True)
    assert rows[0]["kind"] == "login"  # their own login, newest first
    assert page["next_cursor"] is None

    newest = rows[1]
    assert newest["agency"] == {
        "id": "MX/GOB/SEP",
        "name": "Secretaría de Educación Pública",
        "contact": bootstrap.MEMBER_CONTACTS[bootstrap.BECAS.member],
    }
    assert newest["agency_verified"] is True
    assert newest["subsystem"] == str(bootstrap.BECAS)
    assert newest["official"] == "MX-SEP-000123"
    service = newest["service"]
    assert (service["id"], service["description"]) == (
        str(bootstrap.CURP_SERVICE),
        "Consulta de CURP",
    )
    assert {"es": "fecha de nacimiento", "en": "date of birth"} in service["data"]
    assert newest["purpose"] == bootstrap.BECAS_PURPOSE
    assert newest["purpose_title"] == "Inscripción a un programa de becas"
    assert newest["legal_basis"] == bootstrap.BECAS_LEGAL_BASIS
    assert newest["legal_basis_title"] == "Ley General de Educación, art. 8"
    assert newest["legal_basis_url"].startswith("https://")
    assert newest["case"] == "BECA-1"
    assert newest["outcome"] == "allowed"

    # Every row is proven against the signed checkpoint, with the gateway's published key.
    verifier = dev.pki.load_checkpoint_verifier()
    opened = checkpoint.open_note(page["checkpoint"].encode(), [verifier])
    head = checkpoint.parse_checkpoint(opened.body)
    pseudonym = record.pseudonym(dev.pki.pseudonym_key.read_bytes(), alice.curp)
    for row in rows:
        leaf = merkle.leaf_hash(row["leaf"].encode())
        proof = row["proof"]
        assert base64.b64decode(proof["leaf_hash"]) == leaf
        assert proof["tree_size"] == head.size
        path = [base64.b64decode(x) for x in proof["inclusion_proof"]]
        merkle.verify_inclusion(leaf, row["index"], head.size, path, head.root_hash)
        assert pseudonym in json.loads(row["leaf"])["subjects"]

    # The bundle holds the same entries and verifies offline.
    download = http.get(
        f"{gateway_url}/v1/citizen/bundle", headers={"Authorization": f"Bearer {token}"}
    )
    assert download.status_code == 200, download.text
    assert "attachment" in download.headers["content-disposition"]
    verified = bundle.verify_bundle(download.json(), verifier)
    assert sorted(e.index for e in verified.entries) == sorted(r["index"] for r in rows)


def test_no_citizen_can_read_another_citizens_log(dev, gateway_url, http, valid_efirmas):
    alice, bob = valid_efirmas
    consult(dev, gateway_url, alice)
    bobs = consult(dev, gateway_url, bob)
    token = login(http, gateway_url, alice)
    alices = {row["index"] for row in entries(http, gateway_url, token)}
    assert bobs not in alices
    url = f"{gateway_url}/v1/citizen/accesses"
    auth_header = {"Authorization": f"Bearer {token}"}
    bob_pseudonym = record.pseudonym(dev.pki.pseudonym_key.read_bytes(), bob.curp)

    # Naming Bob in the query is refused; naming him in headers or a cursor changes nothing.
    for name, value in (("curp", bob.curp), ("subject", bob_pseudonym), ("sub", bob.curp)):
        response = http.get(url, params={name: value}, headers=auth_header)
        assert response.status_code == 400 and error_code(response) == "citizen.bad_query"
    sneaky = {**auth_header, h.SUBJECT: bob.curp, "X-Citizen": bob_pseudonym}
    response = http.get(url, params={"cursor": bobs + 1}, headers=sneaky)
    assert {row["index"] for row in response.json()["entries"]} <= alices
    bundle_rows = http.get(f"{gateway_url}/v1/citizen/bundle", headers=sneaky).json()["entries"]
    assert {e["index"] for e in bundle_rows} == alices

    # A token for Bob can only come from the gateway's key: forged, altered, expired or
    # missing tokens are refused.
    secret = dev.pki.pseudonym_key.read_bytes()
    instance = dev.settings.instance
    forged, _ = auth.TokenIssuer(b"x" * 32, instance, 900).issue(bob_pseudonym, time.time())
    issuer = auth.TokenIssuer(auth.derive_key(secret, "token"), instance, 900)
    expired, _ = issuer.issue(bob_pseudonym, time.time() - 1000)
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    swapped = base64.urlsafe_b64encode(json.dumps({**claims, "sub": bob_pseudonym}).encode())
    altered = f"{head}.{swapped.rstrip(b'=').decode()}.{signature}"
    unsigned_head = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    unsigned = f"{unsigned_head}.{swapped.rstrip(b'=').decode()}."
    for bad, code in (
        (forged, "citizen.unauthenticated"),
        (altered, "citizen.unauthenticated"),
        (unsigned, "citizen.unauthenticated"),
        (expired, "citizen.token_expired"),
        ("not-a-token", "citizen.unauthenticated"),
    ):
        response = accesses(http, gateway_url, bad)
        assert response.status_code == 401, bad
        assert error_code(response) == code
    assert http.get(url).status_code == 401


def test_paging_and_filters(dev, gateway_url, http, valid_efirmas):
    alice = valid_efirmas[0]
    grant_passports(dev, http, gateway_url, hidden_until=None)
    sep = [consult(dev, gateway_url, alice) for _ in range(3)]
    sre = [
        consult(dev, gateway_url, alice, client=str(bootstrap.PASAPORTES), user_id="SRE-9")
        for _ in range(2)
    ]
    token = login(http, gateway_url, alice)

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor is not None else {})
        response = accesses(http, gateway_url, token, **params)
        page = response.json()
        assert len(page["entries"]) <= 2
        seen += [row["index"] for row in page["entries"]]
        cursor, pages = page["next_cursor"], pages + 1
        if cursor is None:
            break
        assert response.headers["x-next-cursor"] == str(cursor)
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == len(seen)
    assert set(sep + sre) <= set(seen) and pages == 3  # 5 exchanges + 1 login

    by_sre = entries(http, gateway_url, token, agency="MX/GOB/SRE")
    assert [row["index"] for row in by_sre] == sorted(sre, reverse=True)
    assert all(row["official"] == "SRE-9" for row in by_sre)
    assert entries(http, gateway_url, token, agency="MX/GOB/IMSS") == []

    # The days the entries were written on (one, unless the run crossed midnight UTC).
    days = sorted(
        {dt.date.fromisoformat(row["at"][:10]) for row in entries(http, gateway_url, token)}
    )
    first, last = days[0], days[-1]
    yesterday, tomorrow = first - dt.timedelta(days=1), last + dt.timedelta(days=1)
    assert len(entries(http, gateway_url, token, **{"from": first, "to": last})) == 6
    assert entries(http, gateway_url, token, to=yesterday) == []
    assert entries(http, gateway_url, token, **{"from": tomorrow}) == []

    for params in (
        {"limit": 0},
        {"limit": 1001},
        {"limit": "two"},
        {"cursor": -1},
        {"from": "2026-13-01"},
        {"from": tomorrow, "to": yesterday},
        {"to": "9999-12-31"},  # was a 500: the day after overflowed
        {"from": "0999-01-01"},  # was compared as the text "999-01-01…"
        {"agency": "SEP"},
        {"format": "xml"},
    ):
        response = accesses(http, gateway_url, token, **params)
        assert response.status_code == 400, params
        assert error_code(response) == "citizen.bad_query"


def test_csv_export(dev, gateway_url, http, valid_efirmas):
    alice = valid_efirmas[0]
    consult(dev, gateway_url, alice, issue="BECA-CSV-1")
    # A value that would start a spreadsheet formula never reaches the ledger: the gateway
    # refuses it (docs/protocol.md §2), and the export neutralises any that did (test_units).
    with pytest.raises(GatewayError) as refused:
        consult(dev, gateway_url, alice, user_id="=HYPERLINK(1)", issue="@SUM(A1)")
    assert refused.value.code == "Client.InvalidHeader"
    token = login(http, gateway_url, alice)

    response = accesses(http, gateway_url, token, format="csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 2
    plain, signed_in = rows[1], rows[0]
    assert signed_in["tipo"] == "entrada"
    assert plain["tipo"] == "consulta" and plain["dependencia_verificada"] == "sí"
    assert plain["dependencia"] == "Secretaría de Educación Pública"
    assert plain["servidor_publico"] == "MX-SEP-000123"
    assert plain["expediente"] == "BECA-CSV-1"
    assert plain["finalidad_clave"] == bootstrap.BECAS_PURPOSE
    assert plain["finalidad"] == "Inscripción a un programa de becas"
    assert plain["fundamento_legal"] == "Ley General de Educación, art. 8"
    assert "fecha de nacimiento" in plain["datos"]
    assert plain["resultado"] == "datos entregados"

    english = accesses(http, gateway_url, token, format="csv", lang="en", limit=2).text
    assert english.splitlines()[0].startswith("index,time_utc,kind,agency_id,agency,")
    english_rows = list(csv.DictReader(io.StringIO(english)))
    assert [row["kind"] for row in english_rows] == ["login", "access"]
    assert english_rows[1]["outcome"] == "data delivered"
    assert "date of birth" in english_rows[1]["data"]


def _enlace(dev: bootstrap.DevInstance, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "ENLACE_DATABASE_URL": dev.settings.database_url,
        "ENLACE_PKI_DIR": str(dev.settings.pki_dir),
        "ENLACE_ACTOR": "admin:fiscalia",
    }
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_covert_entries_are_shown_only_after_their_date_or_disclosure(
    dev, gateway_url, http, valid_efirmas
):
    alice = valid_efirmas[0]
    until = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=180)
    grant_passports(dev, http, gateway_url, hidden_until=until)
    sre = str(bootstrap.PASAPORTES)
    before = consult(dev, gateway_url, alice)
    covert = [consult(dev, gateway_url, alice, client=sre) for _ in range(3)]
    visible = consult(dev, gateway_url, alice)
    token = login(http, gateway_url, alice)

    # Nothing of the covert exchanges shows: not in the list, the CSV or the bundle.
    assert exchange_indexes(entries(http, gateway_url, token)) == [visible, before]
    assert "SRE" not in accesses(http, gateway_url, token, format="csv").text
    auth_header = {"Authorization": f"Bearer {token}"}
    proven = http.get(f"{gateway_url}/v1/citizen/bundle", headers=auth_header).json()
    assert not {e["index"] for e in proven["entries"]} & set(covert)
    # ...yet they are in the ledger from the start, unaltered, with their date.
    with dev.database.read.connect() as conn:
        logged = dict(queries.entries(conn, start=covert[0], limit=1))[covert[0]]
    assert logged["hidden_until"] == until.isoformat() and logged["client"] == sre
    # Paging steps over covert entries: one entry a page, the next page after ``visible`` is
    # ``before``, and no page is empty.
    after_visible = accesses(http, gateway_url, token, limit=1, cursor=visible).json()
    assert exchange_indexes(after_visible["entries"]) == [before]

    # An administrator discloses one entry early; the disclosure is itself in the ledger.
    done = _enlace(dev, "ledger", "disclose", str(covert[0]), "--reason", "Oficio FGR-1/2026")
    assert done.returncode == 0, done.stderr
    assert exchange_indexes(entries(http, gateway_url, token)) == [visible, covert[0], before]
    shown = next(r for r in entries(http, gateway_url, token) if r["index"] == covert[0])
    assert shown["hidden_until"] == until.isoformat() and shown["disclosed_at"]
    again = _enlace(dev, "ledger", "disclose", str(covert[0]), "--reason", "again")
    assert again.returncode == 2 and "ledger.already_disclosed" in again.stderr
    not_hidden = _enlace(dev, "ledger", "disclose", str(visible), "--reason", "x")
    assert not_hidden.returncode == 2 and "ledger.not_hidden" in not_hidden.stderr

    # ...or every remaining covert exchange of a client with a service.
    service = str(bootstrap.CURP_SERVICE)
    rest = _enlace(
        dev, "ledger", "disclose", "--client", sre, "--service", service, "--reason", "Cierre"
    )
    assert rest.returncode == 0, rest.stderr
    assert set(exchange_indexes(entries(http, gateway_url, token))) == {before, visible, *covert}
    with dev.database.read.connect() as conn:
        disclosures = [e for _, e in queries.tail(conn, 10) if e.get("action") == "ledger.disclose"]
    assert [d["details"]["indexes"] for d in disclosures] == [[covert[0]], covert[1:]]
    assert disclosures[0]["actor"] == "admin:fiscalia"
    assert disclosures[0]["details"]["reason"] == "Oficio FGR-1/2026"
    assert disclosures[1]["details"]["client"] == sre
    tail = _enlace(dev, "ledger", "tail", "-n", "30")
    assert tail.returncode == 0, tail.stderr
    assert "ledger.disclose" in tail.stdout and "citizen   login" in tail.stdout
    assert alice.curp not in tail.stdout
    # Logins and disclosures are ordinary ledger entries: the whole tree still verifies.
    verified = _enlace(dev, "ledger", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_covert_period_that_has_ended_needs_no_disclosure(dev, gateway_url, http, valid_efirmas):
    alice = valid_efirmas[0]
    ended = dt.datetime.now(dt.UTC).date()
    grant_passports(dev, http, gateway_url, hidden_until=ended)
    index = consult(dev, gateway_url, alice, client=str(bootstrap.PASAPORTES))
    token = login(http, gateway_url, alice)
    assert index in exchange_indexes(entries(http, gateway_url, token))


@pytest.mark.parametrize("path", ["/v1/citizen/accesses", "/v1/citizen/bundle"])
def test_the_log_needs_a_session(gateway_url, http, path):
    response = http.get(f"{gateway_url}{path}")
    assert response.status_code == 401
    assert error_code(response) == "citizen.unauthenticated"


def _bundle(http: httpx.Client, url: str, token: str, **params: object) -> dict:
    response = http.get(
        f"{url}/v1/citizen/bundle",
        params={k: str(v) for k, v in params.items()},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_the_bundle_proves_the_log_complete_and_hands_over_disclosed_covert_keys(
    dev, gateway_url, http, valid_efirmas, tmp_path
):
    alice = valid_efirmas[0]
    verifier = dev.pki.load_checkpoint_verifier()
    pseudonym = record.pseudonym(dev.pki.pseudonym_key.read_bytes(), alice.curp)
    consult(dev, gateway_url, alice)
    token = login(http, gateway_url, alice)
    older = _bundle(http, gateway_url, token)
    first = bundle.verify_bundle(older, verifier)
    shown = [row["index"] for row in entries(http, gateway_url, token)]
    assert first.complete and sorted(shown) == [e.index for e in first.entries]
    assert [(k.key, k.role, k.count) for k in first.keys] == [(pseudonym, "citizen", 2)]

    # A covert exchange: committed from the start, under a key that is not Alice's.
    grant_passports(dev, http, gateway_url, hidden_until=dt.date.today() + dt.timedelta(days=90))
    covert = consult(dev, gateway_url, alice, client=str(bootstrap.PASAPORTES))
    consult(dev, gateway_url, alice)
    withheld = bundle.verify_bundle(_bundle(http, gateway_url, token), verifier)
    assert covert not in {e.index for e in withheld.entries}
    assert [k.role for k in withheld.keys] == ["citizen"] and withheld.keys[0].count == 3
    with dev.database.read.connect() as conn:
        logged = dict(queries.entries(conn, start=covert, limit=1))[covert]
    assert pseudonym not in logged["subjects"] and len(logged["subjects"]) == 1

    # Disclosed: the bundle hands over its key, proven in the map since the entry was logged,
    # and still extends the older bundle (consistency from its size).
    done = _enlace(dev, "ledger", "disclose", str(covert), "--reason", "Oficio FGR-2/2026")
    assert done.returncode == 0, done.stderr
    newer = _bundle(http, gateway_url, token, consistency_from=first.checkpoint.size)
    handed = bundle.verify_bundle(newer, verifier)
    assert [(k.key, k.role, k.count) for k in handed.keys] == [
        (pseudonym, "citizen", 3),
        (logged["subjects"][0], "covert", 1),
    ]
    assert covert in {e.index for e in handed.entries}
    bundle.verify_against_older(handed, first)
    new_file, old_file = tmp_path / "new.json", tmp_path / "old.json"
    new_file.write_text(json.dumps(newer))
    old_file.write_text(json.dumps(older))
    vkey = str(dev.pki.checkpoint_vkey)
    checked = _enlace(
        dev, "ledger", "check-proof", str(new_file), "--vkey", vkey, "--older", str(old_file)
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    size = handed.checkpoint.size
    assert (
        f"complete up to {size}: {len(handed.entries)} entries (1 disclosed covert)"
        in checked.stdout
    )
    # Leaving an entry out of the bundle is caught offline.
    newer["entries"].pop(0)
    new_file.write_text(json.dumps(newer))
    refused = _enlace(dev, "ledger", "check-proof", str(new_file), "--vkey", vkey)
    assert refused.returncode == 1 and "INVALID" in refused.stdout
    bad = http.get(
        f"{gateway_url}/v1/citizen/bundle",
        params={"consistency_from": str(size + 5)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert bad.status_code == 400 and error_code(bad) == "citizen.bad_query"
    assert _enlace(dev, "ledger", "verify").returncode == 0
