"""`linkage-hub demo`: the simulated agencies that `up --demo` runs beside the hub."""

from __future__ import annotations

import argparse

from connectors.demo import run_demo
from hub.adapters.registry_store import PostgresRegistry, RegistryError
from hub.commands.common import database
from hub.runtime import resolve
from hub.settings import Settings


async def demo(settings: Settings, args: argparse.Namespace) -> None:
    settings = resolve(settings, need_kafka=True)
    async with database(settings, restricted=False) as pool:
        registry = PostgresRegistry(pool)
        known = {k.keyid for a in await registry.agencies() for k in a.keys}

        async def register(agency: str, pem: str) -> None:
            from schemas.signing import keyid_of, load_public_pem

            if keyid_of(load_public_pem(pem)) not in known:
                try:
                    await registry.add_key(agency, pem)
                except RegistryError:
                    pass

        await run_demo(settings.require_kafka(), settings.home, settings.hub_key().public_key,
                       args.accelerate, register)
