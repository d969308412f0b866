"""`python -m schemas [--check]`: write (or check) the published JSON Schema of the event contract."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from schemas.events import SCHEMA_VERSION, events_json_schema

SCHEMA_FILE = Path(__file__).with_name(f"event.v{SCHEMA_VERSION}.schema.json")


def rendered() -> str:
    return json.dumps(events_json_schema(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = rendered()
    if args == ["--check"]:
        if not SCHEMA_FILE.exists() or SCHEMA_FILE.read_text() != text:
            print(f"{SCHEMA_FILE} is stale: run `make schema` and commit it", file=sys.stderr)
            return 1
        print(f"{SCHEMA_FILE.name} is up to date")
        return 0
    SCHEMA_FILE.write_text(text)
    print(f"wrote {SCHEMA_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
