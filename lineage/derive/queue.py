"""Deriving the lineage graph from raw events, in batches.

Raw events wait in `DeriveQueue`. A deriver claims a batch (skipping rows another deriver holds), folds the
batch into a `Delta` (`lineage.derive.fold`), joins it into the stored rows and removes the batch from the queue,
all in one transaction. Rows are created first (insert, ignoring conflicts), then locked and merged, table by
table in a fixed order and sorted by key, so concurrent derivers serialise on shared rows instead of
duplicating them; a deadlock, should one still happen, rolls back the batch and it is tried again.
"""

import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import orjson
from django.conf import settings
from django.db import OperationalError, connection, transaction

from governance.models import Namespace
from governance.observability import EVENTS_DERIVED
from lineage import openlineage as ol
from lineage.derive.fold import contributes, fold, run_claims
from lineage.derive.store import StaleClaims, apply_delta
from lineage.models import DeriveQueue, JobVersion, RawEvent, Run

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
FAR_PAST = datetime(1970, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def derive_pending(*, batch_size: int | None = None) -> int:
    """Derive every queued raw event; returns how many were derived."""
    size = batch_size or settings.TRIBUTARY_DERIVE_BATCH_SIZE
    total = 0
    while True:
        done = _with_retry(lambda: derive_batch(limit=size))
        total += done
        if done < size:
            return total


def _with_retry(work: Callable[[], int]) -> int:
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return work()
        except StaleClaims:
            # The batch judged a run's events against fewer claims than it has now; it rolled back whole.
            if attempt == MAX_ATTEMPTS:
                raise
            log.warning("a run's claims changed during derivation, retrying", extra={"attempt": attempt})
        except OperationalError as error:
            # PostgreSQL's deadlock detector picked this batch; it rolled back whole, so try again.
            if "deadlock" not in str(error).lower() or attempt == MAX_ATTEMPTS:
                raise
            log.warning("derivation deadlocked, retrying", extra={"attempt": attempt})
            time.sleep(0.05 * attempt)
    return 0


@transaction.atomic
def derive_batch(*, limit: int) -> int:
    claimed = list(
        DeriveQueue.objects.select_for_update(skip_locked=True)
        .order_by("raw_event_id")
        .values_list("raw_event_id", flat=True)[:limit]
    )
    if not claimed:
        return 0
    raws = RawEvent.objects.filter(id__in=claimed).only(
        "id", "body", "kind", "event_hash", "warnings", "namespaces_allowed"
    )
    events, scopes = [], {}
    _parse_into(raws, events, scopes)
    claims = _run_claims(events, scopes)
    apply_delta(fold(events, scopes=scopes, claims=claims))
    DeriveQueue.objects.filter(raw_event_id__in=claimed).delete()
    EVENTS_DERIVED.inc(len(claimed))
    return len(claimed)


def _parse_into(raws: Iterable[RawEvent], events: list, scopes: dict) -> None:
    for raw in raws:
        event = orjson.loads(raw.body)
        events.append(ol.parse_event(event, kind=raw.kind, digest=raw.event_hash, warnings=raw.warnings))
        if raw.namespaces_allowed:  # null or empty: an event that may change everything
            scopes[raw.event_hash] = frozenset(raw.namespaces_allowed)


def _run_claims(events: list, scopes: dict) -> dict[str, frozenset[str]]:
    """The stored claims of the batch's runs (`lineage.derive.fold`: who may change a run depends on all of them).

    A run that a new namespace now claims is derived again from all its raw events: the events already joined
    into it were judged against fewer claims, and a join cannot take a contribution back. So is a run that only
    claims made (its row's times are when it was claimed) once an event contributes to it. Its row (with its
    inputs, outputs and versions) is deleted, and its stored events join the batch. A run whose claims the batch
    does not widen and that stays without contributions needs nothing of the kind: its row takes the batch's
    claims as they are (`_merge_runs`), however many events later name it.
    """
    batch = run_claims(events)
    if not batch:
        return {}
    stored = {
        run_id: (frozenset(namespaces), job_stamp, job_version)
        for run_id, namespaces, job_stamp, job_version in Run.objects.filter(run_id__in=batch).values_list(
            "run_id", "job_namespaces", "job_stamp", "job_version"
        )
    }
    grown = {run_id for run_id, (namespaces, _, _) in stored.items() if not batch[run_id] <= namespaces}
    stubs = {run_id for run_id, (_, job_stamp, _) in stored.items() if not job_stamp} - grown
    contributed = {
        event.run_id
        for event in events
        if event.kind == "run"
        and event.run_id in stubs
        and contributes(scopes.get(event.digest), stored[event.run_id][0])
    }
    again = sorted(grown | contributed)
    if again:
        versions = {stored[run_id][2] for run_id in again} - {None}
        Run.objects.filter(run_id__in=again).delete()
        JobVersion.objects.filter(pk__in=versions, runs__isnull=True).delete()
        known = {event.digest for event in events}
        raws = (
            RawEvent.objects.filter(run_id__in=again, kind="run")
            .exclude(event_hash__in=known)
            .only("id", "body", "kind", "event_hash", "warnings", "namespaces_allowed")
        )
        _parse_into(raws, events, scopes)
    return {run_id: namespaces for run_id, (namespaces, _, _) in stored.items() if run_id not in again}


def rebuild() -> int:
    """Throw the derived graph away and queue every raw event to be derived again; returns how many.

    Namespaces are kept (permission grants point at them); their times are recomputed from the events.
    """
    from lineage import models

    with transaction.atomic():
        for model in (
            models.ColumnLineage,
            models.JobEdge,
            models.RunDataset,
            models.DatasetVersion,
            models.DatasetField,
            models.Run,
            models.JobVersion,
        ):
            model.objects.all()._raw_delete(model.objects.db)
        models.Job.objects.update(parent=None, dag=None)
        models.Job.objects.all()._raw_delete(models.Job.objects.db)
        models.Dataset.objects.all()._raw_delete(models.Dataset.objects.db)
        # Times are joined as min/max, so start from an empty span: created in the future, updated never.
        Namespace.objects.update(created_at=FAR_FUTURE, updated_at=FAR_PAST)
        DeriveQueue.objects.all()._raw_delete(DeriveQueue.objects.db)
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {quote(DeriveQueue._meta.db_table)} ({quote('raw_event_id')}) "
                f"SELECT {quote('id')} FROM {quote(RawEvent._meta.db_table)}"
            )
            return cursor.rowcount
