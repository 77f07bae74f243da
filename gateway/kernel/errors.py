"""The error catalogue: every stable error code of Enlace, its HTTP status and its title.

One table for every family of codes:

* the exchange protocol's ``Client.*`` (the caller must change something), ``Server.*`` (the
  gateway or a trusted source failed) and ``Source.*`` (a trusted source's own answer), in the
  style of X-Road's ``X-Road-Error`` (``docs/protocol.md``);
* the proof endpoints' ``Ledger.*`` (``docs/ledger.md``);
* the citizen API's ``citizen.*``, with the SAT validation's ``efirma.*`` (401: the certificate is
  refused) and ``ocsp.*`` (503: revocation could not be established, asking later may succeed)
  (``docs/citizen.md``);
* codes that never reach HTTP (status ``None``): registry changes, administrative ledger
  operations, the command line, PKI, datasets, schemas, evidence, CURP and signature checks.

A code is part of the protocol: once published it keeps its meaning and status. The table of
docs/operations.md is this catalogue: ``python -m gateway.devtools.doctables`` rewrites it.
``CodedError`` is the base of every error family that carries one of these codes, so a route or
the command line renders any of them from ``code``, ``status`` and ``message`` alone.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The status an error answers with when its code has none of its own: such a code reaching
#: HTTP is a gateway bug.
UNMAPPED_STATUS = 500


@dataclass(frozen=True)
class ErrorKind:
    code: str
    status: int | None  # None: the code is never answered over HTTP
    title: str


def _kinds(status: int | None, *entries: tuple[str, str]) -> list[ErrorKind]:
    return [ErrorKind(code, status, title) for code, title in entries]


_EXCHANGE = [
    ErrorKind("Client.BadRequest", 400, "The request is malformed"),
    ErrorKind("Client.InvalidIdentifier", 400, "An identifier has the wrong shape or characters"),
    ErrorKind("Client.MissingHeader", 400, "A required header is missing or empty"),
    ErrorKind("Client.InvalidHeader", 400, "A header value is malformed"),
    ErrorKind("Client.InvalidSubject", 400, "The data subject is not a valid CURP"),
    ErrorKind(
        "Client.PersonalDataInField", 400, "A free-text header holds a CURP, RFC or e-mail address"
    ),
    ErrorKind("Client.InvalidBody", 400, "The request body does not conform to the service schema"),
    ErrorKind("Client.BodyTooLarge", 413, "The request body exceeds the limit"),
    ErrorKind("Client.InvalidSignature", 401, "The HTTP message signature does not verify"),
    ErrorKind("Client.DigestMismatch", 401, "The body does not match its signed Content-Digest"),
    ErrorKind("Client.SignatureExpired", 401, "The signature's created time is outside the window"),
    ErrorKind("Client.UnknownKey", 401, "The signing key is not registered"),
    ErrorKind("Client.CertificateInvalid", 401, "The signing certificate does not chain to the CA"),
    ErrorKind(
        "Client.CertificateExpired", 401, "The signing certificate is expired or not yet valid"
    ),
    ErrorKind("Client.CertificateRevoked", 401, "The signing certificate has been revoked"),
    ErrorKind("Client.Replay", 409, "This X-Road-Id or nonce was already used"),
    ErrorKind("Client.UnknownClient", 403, "The client subsystem is not registered"),
    ErrorKind("Client.ClientMismatch", 403, "The signing key does not belong to X-Road-Client"),
    ErrorKind("Client.AccessDenied", 403, "No grant allows this client to use this service"),
    ErrorKind("Client.PurposeNotGranted", 403, "The grant does not cover this purpose"),
    ErrorKind("Client.LegalBasisNotGranted", 403, "The grant does not cover this legal basis"),
    ErrorKind("Client.UnknownService", 404, "The service is not registered"),
    ErrorKind("Client.MethodNotAllowed", 405, "The service does not accept this method"),
    ErrorKind("Client.RateLimited", 429, "The client exceeds its request rate or concurrency"),
    ErrorKind("Source.NotFound", 404, "The trusted source holds no record for the query"),
    ErrorKind("Source.InvalidQuery", 400, "The trusted source rejected the query"),
    ErrorKind("Server.LedgerUnavailable", 503, "The audit ledger could not record the exchange"),
    ErrorKind(
        "Server.LedgerCorrupt", 503, "The ledger's history does not extend its last signed head"
    ),
    ErrorKind("Server.SourceUnavailable", 502, "The trusted source could not be reached"),
    ErrorKind("Server.SourceTimeout", 504, "The trusted source did not answer in time"),
    ErrorKind("Server.SourceError", 502, "The trusted source answered with an error or garbage"),
    ErrorKind("Server.RegistryUnavailable", 503, "The gateway cannot confirm the registry"),
    ErrorKind("Server.InternalError", 500, "The gateway failed unexpectedly"),
    ErrorKind("Server.Overloaded", 503, "The gateway is serving all the requests it can"),
    ErrorKind(
        "Server.ReplayUnavailable", 503, "The shared replay store could not check the request"
    ),
]

# What a source service answers the gateway when it cannot answer at all (docs/protocol.md §6).
_SOURCE_WIRE = [
    ErrorKind("Source.BadRequest", 400, "The call did not follow the source protocol"),
    ErrorKind("Source.Forbidden", 403, "Only the gateway may call this source"),
    ErrorKind("Source.InternalError", 500, "The source failed"),
]

_LEDGER_API = [
    ErrorKind("Ledger.InvalidParameter", 400, "A proof parameter is malformed or out of bounds"),
    ErrorKind("Ledger.BeyondTree", 404, "The tree is not that large (yet)"),
    ErrorKind("Ledger.NoCheckpoint", 404, "No checkpoint has been signed yet"),
    ErrorKind("Ledger.Unavailable", 503, "The ledger cannot be read now"),
]

_CITIZEN = [
    ErrorKind("citizen.bad_request", 400, "The login body is malformed"),
    ErrorKind("citizen.bad_query", 400, "A query parameter is unknown, repeated or malformed"),
    ErrorKind("citizen.body_too_large", 413, "The login body exceeds the limit"),
    ErrorKind("citizen.challenge_invalid", 401, "Not a challenge of this gateway"),
    ErrorKind("citizen.challenge_expired", 401, "The challenge has expired"),
    ErrorKind("citizen.challenge_reused", 401, "The challenge was already used"),
    ErrorKind("citizen.bad_signature", 401, "Not this certificate's signature over the challenge"),
    ErrorKind("citizen.not_persona_fisica", 403, "The e.firma is not a persona fisica's"),
    ErrorKind("citizen.invalid_curp", 403, "The certificate's CURP is malformed"),
    ErrorKind("citizen.unauthenticated", 401, "A valid session token is required"),
    ErrorKind("citizen.token_expired", 401, "The session has expired"),
    ErrorKind("citizen.unavailable", 503, "e.firma login is not configured"),
    ErrorKind("citizen.ledger_unavailable", 503, "The ledger could not be written or read"),
    ErrorKind("citizen.rate_limited", 429, "Too many requests from this address"),
]

# The SAT validation's codes (docs/sources.md §4); the citizen API answers them as they are.
_EFIRMA = _kinds(
    401,
    ("efirma.error", "The e.firma could not be used"),
    ("efirma.malformed", "Not a SAT certificate"),
    ("efirma.malformed_key", "Not an encrypted PKCS#8 RSA private key"),
    ("efirma.bad_password", "The password does not decrypt the private key"),
    ("efirma.unsupported_key", "The certificate's key is not RSA"),
    ("efirma.missing_rfc", "The certificate has no RFC"),
    ("efirma.bad_rfc", "The certificate's RFC is malformed"),
    ("efirma.missing_name", "The certificate has no name"),
    ("efirma.is_csd", "A CSD (invoice seal), not an e.firma"),
    ("efirma.not_efirma", "The certificate lacks the e.firma usages"),
    ("efirma.not_yet_valid", "The certificate is not valid yet"),
    ("efirma.expired", "The certificate has expired"),
    ("efirma.is_ca", "The certificate is a CA certificate"),
    ("efirma.bad_key_usage", "The certificate lacks digitalSignature and nonRepudiation"),
    ("efirma.unknown_issuer", "No valid chain to a configured SAT CA"),
    ("efirma.revoked", "The certificate has been revoked"),
    ("efirma.subject_mismatch", "The certificate is not the data subject's"),
)
_OCSP = _kinds(
    503,
    ("ocsp.error", "The OCSP response cannot be used"),
    ("ocsp.not_checked", "Revocation was not checked (offline validation)"),
    ("ocsp.not_configured", "No OCSP responder is configured"),
    ("ocsp.unavailable", "The OCSP responder is down"),
    ("ocsp.timeout", "The OCSP responder did not answer in time"),
    ("ocsp.http_error", "The OCSP responder's answer is not an OCSP response over HTTP 200"),
    ("ocsp.too_large", "The OCSP response is too large"),
    ("ocsp.malformed", "Not a DER OCSP response"),
    ("ocsp.unsuccessful", "The OCSP responder answered an error status"),
    ("ocsp.unknown_responder", "No certificate matches the OCSP responder"),
    ("ocsp.unauthorized_responder", "The OCSP responder is not entitled to answer"),
    ("ocsp.bad_signature", "The OCSP response's signature does not verify"),
    ("ocsp.certid_mismatch", "The OCSP response is about another certificate"),
    ("ocsp.not_yet_valid", "The OCSP response's thisUpdate is in the future"),
    ("ocsp.stale", "The OCSP response is too old"),
    ("ocsp.nonce_mismatch", "The OCSP response's nonce is not the request's"),
    ("ocsp.status_unknown", "The OCSP responder does not know the certificate"),
)

_OFFLINE = _kinds(
    None,
    ("signature.mismatch", "Not this certificate's signature over these data"),
    ("signature.unsupported_key", "The certificate's key cannot verify this signature"),
    ("sat.error", "The SAT source failed"),
    ("sat.config", "The SAT source's options or certificate directories are unusable"),
    ("sat.status_file", "The OCSP responder's status file is malformed"),
    ("curp.length", "A CURP has 18 characters"),
    ("curp.charset", "A character is not in the CURP alphabet"),
    ("curp.initials", "The name initials are malformed"),
    ("curp.birth_date", "The birth date is not a real date"),
    ("curp.sex", "The sex is not H, M or X"),
    ("curp.state", "The state code is unknown"),
    ("curp.consonants", "The internal consonants are malformed"),
    ("curp.homoclave", "The homoclave is not a digit or letter"),
    ("curp.check_digit", "The check digit is wrong"),
    ("curp.inconvenient_word", "The first four letters form an inconvenient word"),
    ("evidence.malformed", "The evidence is not a well-formed JWS"),
    ("evidence.bad_signature", "The evidence's signature does not verify"),
    ("evidence.not_canonical", "The evidence's payload is not canonical JSON"),
    ("evidence.untrusted_signer", "The evidence's signer is not trusted"),
    ("evidence.wrong_signer", "The evidence is not signed by the service's provider"),
    ("config.invalid", "A setting has a value the gateway cannot use"),
    ("db.unsafe", "The database does not make commits durable"),
    ("db.in_use", "Another gateway process serves this SQLite database"),
    ("db.single_process", "SQLite serves from one process: several workers need PostgreSQL"),
    ("schemas.invalid", "The schema catalogue is broken"),
    ("dataset.missing", "No dataset file"),
    ("dataset.format", "Not an Enlace dataset file"),
    ("db.bad_url", "The database URL is malformed or names an unsupported system"),
    ("db.missing", "The database does not exist"),
    ("db.no_schema", "The database has no Enlace schema"),
    ("db.unavailable", "The database cannot be reached"),
    ("registry.exists", "Already registered"),
    ("registry.not_found", "Not registered or not active"),
    ("registry.unknown_member", "The member is not registered"),
    ("registry.unknown_subsystem", "The subsystem is not registered"),
    ("registry.unknown_source", "The source is not registered"),
    ("registry.unknown_service", "The service is not registered"),
    ("registry.unknown_operation", "The source has no such operation"),
    ("registry.bad_certificate", "The certificate cannot be registered"),
    ("registry.bad_source", "The source's registration is incomplete or wrong"),
    ("registry.bad_service", "The service's registration is wrong"),
    ("registry.bad_grant", "The grant is incomplete or malformed"),
    ("registry.bad_limit", "The client limit is not a positive number"),
    ("registry.unknown_title", "The purpose or legal basis is not registered"),
    ("registry.bad_title", "The code, title, link or contact route cannot be registered"),
    ("registry.bad_member", "The member's registration is wrong"),
    ("registry.bad_identifier", "The identifier is not this instance's or not canonical"),
    ("ledger.no_entry", "The ledger has no such entry"),
    ("ledger.already_disclosed", "The entry is already disclosed"),
    ("ledger.not_hidden", "The entry is not hidden from its data subjects"),
    ("ledger.nothing_to_disclose", "No covert entry matches"),
    ("ledger.too_many", "Too many entries at once"),
    ("ledger.key", "A ledger key cannot be read"),
    ("ledger.checkpoint", "A checkpoint note cannot be read"),
    ("ledger.no_checkpoint", "No checkpoint has been signed yet"),
    ("ledger.corrupt", "The stored ledger is inconsistent"),
    ("ledger.bundle", "A proof bundle cannot be built"),
    ("ledger.witness", "The witness refuses to cosign"),
    ("ledger.witness_state", "The witness's state directory is missing, in use or unreadable"),
    ("ledger.witness_log", "A log to witness is not ORIGIN=VKEY with a valid key"),
    ("pki.missing", "The PKI directory lacks what the command needs"),
    ("pki.sat", "The SAT-like development PKI cannot be created"),
    ("cli.usage", "The command line is malformed"),
    ("cli.missing_command", "A command group needs one of its commands"),
    ("cli.unknown_command", "No such command"),
    ("cli.unknown_option", "No such option"),
    ("cli.missing_parameter", "A required argument or option is missing"),
    ("cli.bad_option", "An argument or option has a value the command cannot use"),
    ("cli.bad_identifier", "An identifier argument has the wrong shape or characters"),
    ("cli.bad_file", "A file cannot be read or is malformed"),
    ("cli.unknown_source", "No such source"),
)

CATALOGUE: dict[str, ErrorKind] = {
    kind.code: kind
    for kind in (*_EXCHANGE, *_SOURCE_WIRE, *_LEDGER_API, *_CITIZEN, *_EFIRMA, *_OCSP, *_OFFLINE)
}


def kind_of(code: str) -> ErrorKind:
    """The catalogue entry of ``code``; ``ValueError`` for a code that is not catalogued."""
    try:
        return CATALOGUE[code]
    except KeyError:
        raise ValueError(f"unknown error code {code}") from None


def http_status(code: str) -> int:
    """The HTTP status answered for ``code``: ``UNMAPPED_STATUS`` when the code has none."""
    status = kind_of(code).status
    return UNMAPPED_STATUS if status is None else status


class CodedError(Exception):
    """An error with a catalogue ``code``, its HTTP ``status`` and a ``message`` safe to show.

    Every error family with a stable code derives from this, so any route or the command line
    renders any of them the same way. ``str()`` is the message.
    """

    def __init__(self, code: str, message: str | None = None) -> None:
        self.kind = kind_of(code)
        self.code = code
        self.message = message or self.kind.title
        super().__init__(self.message)

    @property
    def status(self) -> int:
        return http_status(self.code)


class EnlaceError(CodedError):
    """A refusal or failure of the exchange protocol (``Client.*``, ``Server.*``, ``Source.*``).

    ``str()`` is ``code: message``: the code is what logs and tests look for. ``retry_after``
    (seconds) is sent as ``Retry-After`` with a refusal that asking later may overcome.
    """

    def __init__(
        self, code: str, message: str | None = None, *, retry_after: int | None = None
    ) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class CitizenError(CodedError):
    """A refusal of the citizen API: a ``citizen.*`` code, or the SAT validation's ``efirma.*``
    or ``ocsp.*`` code as it is; ``codes`` lists every problem found, primary first.

    The message is safe to show; it never holds a CURP.
    """

    NAMESPACES = ("citizen.", "efirma.", "ocsp.")

    def __init__(
        self,
        code: str,
        message: str,
        codes: tuple[str, ...] = (),
        *,
        retry_after: int | None = None,
    ) -> None:
        if not code.startswith(self.NAMESPACES):
            raise ValueError(f"{code} is not a citizen API error code")
        super().__init__(code, message)
        self.codes = codes or (code,)
        self.retry_after = retry_after  # seconds, sent as Retry-After

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def markdown_table() -> str:
    """The error-code table of docs/operations.md: code, HTTP status, meaning."""
    lines = ["| code | HTTP | meaning |", "|---|---|---|"]
    for kind in CATALOGUE.values():
        status = "—" if kind.status is None else str(kind.status)
        lines.append(f"| `{kind.code}` | {status} | {kind.title} |")
    return "\n".join(lines) + "\n"
