"""Storage adapters: the only server-side modules that speak SQL (asyncpg)."""
