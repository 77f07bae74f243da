"""The citizen's view of the ledger: e.firma login, their own access log with proofs, disclosure.

``errors`` (stable codes), ``auth`` (pure challenge and token logic), ``challenges`` (single use
of login challenges), ``throttle`` (attempt limits per client address), ``disclosure`` (which
entries are withheld from their data subjects, and disclosing them early), ``access_log`` (query
and presentation of a citizen's entries); the HTTP edge is ``gateway.server.citizen_api`` and the
page lives in ``gateway/web``.
"""
