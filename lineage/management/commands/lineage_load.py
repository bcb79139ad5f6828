import gzip
from collections import Counter
from pathlib import Path

import orjson
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from lineage.derive.queue import derive_pending
from lineage.ingest import services

SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")


def event_files(paths: list[str]) -> list[Path]:
    files = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES)))
        elif path.is_file():
            files.append(path)
        else:
            raise CommandError(f"{name}: no such file or folder")
    return files


def read_items(path: Path):
    """Yield (label, text, decoded or PayloadError) for each event of a JSON, JSON-array or JSON-lines file."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    try:
        whole = orjson.loads(data)
    except orjson.JSONDecodeError:
        whole = None
    else:
        if isinstance(whole, list):
            for index, item in enumerate(whole):
                yield f"{path}[{index}]", None, item
        else:
            yield str(path), data.decode("utf-8", errors="replace"), whole
        return
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        text = line.decode("utf-8", errors="replace")
        try:
            yield f"{path}:{number}", text, orjson.loads(line)
        except orjson.JSONDecodeError as error:
            yield f"{path}:{number}", text, services.PayloadError(f"not valid JSON: {error}")


class Command(BaseCommand):
    help = "Load OpenLineage events from JSON files, JSON-lines files or folders of them, through ingestion."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="Files (.json, .jsonl, .ndjson, optionally .gz) or folders.")
        parser.add_argument("--no-progress", action="store_true", help="Do not draw progress bars.")

    def handle(self, *args, paths, no_progress=False, **options):
        files = event_files(paths)
        if not files:
            raise CommandError("no event files found (looked for " + ", ".join(SUFFIXES) + ")")
        counts: Counter[str] = Counter()
        refusals: list[str] = []
        items = (item for path in files for item in read_items(path))
        for label, text, event in tqdm(items, desc="events", unit="ev", disable=no_progress):
            if isinstance(event, services.PayloadError):
                services.quarantine_unreadable(text=text, message=str(event), token=None, source="cli")
                counts["refused"] += 1
                refusals.append(f"{label}: {event}")
                continue
            result = services.ingest_event(event=event, body=text, source="cli", derive=False)
            counts[result.outcome] += 1
            if not result.stored:
                refusals.append(f"{label}: {result.reason}")
            for warning in result.warnings:
                counts["warnings"] += 1
                self.stderr.write(f"warning {label}{warning['path']}: {warning['message']}")
        derived = derive_pending()
        self.stdout.write(
            f"{counts['accepted']} accepted, {counts['duplicate']} duplicates, {counts['refused']} refused "
            f"({counts['warnings']} facet warnings); {derived} events derived."
        )
        for line in refusals:
            self.stdout.write(f"refused {line}")
        if refusals:
            raise CommandError(
                f"{len(refusals)} event(s) refused; they are in the quarantine (manage.py quarantine list)"
            )
