"""The ledger, whole and pure: RFC 9162 tree maths, C2SP notes and checkpoints, witnessing,
proofs, export, the checkpointer and the full re-check. Storage is behind `audit.ledger` and
`audit.checkpoint_store` ports; their PostgreSQL adapters live in `hub.adapters`.

Modules are imported by name (`from audit.merkle import ...`); this package re-exports nothing.
"""
