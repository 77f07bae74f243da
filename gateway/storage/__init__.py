"""Storage and registry: database schema and migrations, the registry, the ledger's storage,
sequencer and checkpoint publisher, the citizen's queries.
"""
