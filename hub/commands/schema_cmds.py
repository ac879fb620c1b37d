"""`linkage-hub schemas export DIR`: one JSON Schema file per event type."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hub.settings import Settings
from schemas.export import event_json_schemas


def export(settings: Settings, args: argparse.Namespace) -> None:
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    for filename, document in event_json_schemas().items():
        (out / filename).write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
        print(out / filename)
