"""One exchange, from the consumer's signed request to the signed, ledgered response.

The exchange is a pipeline of named steps over plain data (``context.Inbound``, the request as
received; ``context.Exchange``, what is known so far), driven by ``pipeline.handle``:

    parse.read      header and body size (then the pipeline refuses a stale registry)
    parse.parse     Host, path, protocol headers
    authenticate    signature parameters and age, key, signature, certificate, covert grant,
                    replay
    authorise       client, service, method, contract, subject, grant, request schema
    call            the source's answer, its signer, the answer's schema
    metaservices    instead of authorise and call, for a metaservice path: X-Road's service
                    metadata, answered from the registry snapshot
    record          the ledger record of the exchange, and its append
    sign            the response headers, the receipt and the gateway's signature

``route`` is the HTTP adapter: it turns the web framework's request into an ``Inbound`` and a
``sign.Signed`` into a response; no step knows about the framework.

The order of checks is part of the security design: apart from "this key id is unknown",
nothing the registry holds (a key's owner or status, clients, services, grants) is revealed
before the signature verifies; the replay check comes after the signature (so that an attacker
cannot burn a victim's nonces); and the ledger append comes before the response is sent — if
it fails, the consumer gets ``Server.LedgerUnavailable`` and no data.

Every request is ledgered, but a request whose signature did not verify is recorded without
its data subject: otherwise anyone could write entries into any citizen's access log.
"""
