"""The audit ledger: records (record.py), storage (store.py) and the group-commit writer."""
