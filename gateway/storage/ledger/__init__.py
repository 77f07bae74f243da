"""The ledger on a database, split as a transparency log is: ``driver`` (how entries, nodes and
the tree state are stored, per dialect), ``sequencer`` (indexes and group commit), ``proofs``
(inclusion and consistency proofs and bundles read from storage), ``publisher`` (signed
checkpoints and the kept last signed head), ``witness`` (cosigning), ``queries`` (entries read
back), ``audit`` (``enlace ledger verify``) and ``errors``. The pure maths and offline
verification are in ``gateway.kernel.ledger``.
"""
