"""Celery tasks of the lineage app, and the wake-up that starts derivation after events are stored."""

import logging
import threading
import time

from celery import shared_task
from django.conf import settings

from lineage.derive.queue import derive_pending

log = logging.getLogger(__name__)

# At most one wake-up message per interval and process; a trailing one covers events committed in between. The
# first event after a quiet spell wakes a deriver at once; under a steady stream the wake-ups are spaced so that
# each derives a batch of a few hundred events rather than a few (a batch has a fixed cost of some 40
# statements: at one wake-up per 50 ms, bench_ingest's deriver spent most of its time on it).
WAKE_INTERVAL = 0.5
_lock = threading.Lock()
_next_allowed = 0.0
_trailing_at = 0.0


@shared_task(name="lineage.tasks.derive_pending", ignore_result=True)
def derive_pending_task() -> int:
    return derive_pending()


def request_derivation() -> None:
    """Make sure a deriver runs after this moment.

    Eager (no broker): derive now, in this process. With a broker: send a wake-up, throttled per process so a
    stream of 2,000 events/s does not become 2,000 messages/s. Correctness does not rest on this throttle:
    the queue is in the database, every deriver drains all of it, and a scheduled task sweeps it regularly.
    """
    global _next_allowed, _trailing_at
    if settings.CELERY_TASK_ALWAYS_EAGER:
        derive_pending()
        return
    now = time.monotonic()
    with _lock:
        if now >= _next_allowed:
            _next_allowed = now + WAKE_INTERVAL
            countdown = None
        elif _trailing_at < _next_allowed:
            _trailing_at = _next_allowed
            countdown = _next_allowed - now
        else:
            return
    try:
        derive_pending_task.apply_async(
            countdown=countdown, retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
        )
    except Exception:  # the broker is down: the periodic sweep derives the events later
        log.warning("could not send the derivation wake-up; the periodic sweep will pick the events up")


@shared_task(name="lineage.tasks.refresh_lineage_report", ignore_result=True)
def refresh_lineage_report(visible: list[int] | None = None) -> None:
    from lineage.read.reports import refresh

    refresh(set(visible) if visible is not None else None)
