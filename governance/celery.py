"""The Celery app. Without CELERY_BROKER_URL every task runs eagerly in the process that calls it."""

import os
import sys

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")

# One deriving worker in the foreground, as the benchmarks and the broker tests start it.
SOLO_WORKER = [
    sys.executable,
    "-m",
    "celery",
    "-A",
    "governance",
    "worker",
    "--pool=solo",
    "--loglevel=WARNING",
    "--without-gossip",
    "--without-mingle",
    "--without-heartbeat",
]

app = Celery("tributary")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _lower_priority(**kwargs) -> None:
    """Workers do background work (deriving, checks, reports) at a lower CPU priority than the web processes: on
    a machine they share, Airflow's requests are answered first and derivation catches up behind them; on a
    machine of their own it changes nothing. `TRIBUTARY_WORKER_NICE`, default 10 (0 leaves the priority alone).
    Set in the worker's main process before its pool starts, so forked pool processes inherit it."""
    from django.conf import settings

    if settings.TRIBUTARY_WORKER_NICE > 0:
        os.nice(settings.TRIBUTARY_WORKER_NICE)
