"""The contract's vocabulary: wire models (DSSE, CloudEvents, events, receipts, alerts), topic
names, reason codes, signing and strict base64 — what every party to the hub must agree on.

Modules are imported by name (`from schemas.dsse import Envelope`); this package re-exports
nothing.
"""
