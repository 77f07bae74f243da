"""The ledger's pure core: records, RFC 9162 Merkle maths, C2SP checkpoints and receipts, offline
verification. No database.
"""
