"""A separate process that ingests a JSON-lines file of events one by one, deriving as it goes.

Used by the concurrency tests: `python -m tests.ingest_worker EVENTS.jsonl` with DATABASE_URL set.
"""

import os
import sys


def main(path: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
    import django

    django.setup()
    import orjson

    from lineage.ingest import services

    with open(path, "rb") as handle:
        for line in handle:
            result = services.ingest_event(event=orjson.loads(line), source="cli")
            if not result.stored:
                sys.exit(f"refused: {result.reason}")


if __name__ == "__main__":
    main(sys.argv[1])
