"""The stream processors: ingress (verify, ledger, receipt) and the rules runner, over ports.

The pure rule engine they drive lives beneath them in `streams.rules`; the adapters that
implement the ports (PostgreSQL, Kafka) live in `hub.adapters`.
"""
