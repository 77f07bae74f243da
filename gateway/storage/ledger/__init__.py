"""The ledger on a database: storage driver, group-commit sequencer, proofs read from storage,
audit, witness cosigning.
"""
