"""Adapters: the only server-side modules that import a driver (asyncpg, aiokafka, faust).

Each maps its driver's errors to the hub's own, so the services above never see a driver type.
"""
