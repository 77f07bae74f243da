"""``enlace witness``: an independent C2SP tlog-witness, a process of its own.

It holds its own key and state directory and knows nothing of the gateway's database: it trusts
the log keys it is configured with, remembers per origin the latest checkpoint it cosigned, and
cosigns a new one only with a consistency proof from that one (``gateway.kernel.ledger.witnessing``
decides). ``state`` keeps the directory, ``logs`` reads which logs it witnesses, ``app`` is the
HTTP service (``POST /add-checkpoint``).
"""
