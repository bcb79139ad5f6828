"""Four processes appending to the audit trail at once never fork the chain."""

import os
import subprocess
import sys
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
from django.db import connection

from governance import audit
from governance.models import AuditRecord

from .conftest import requires_postgres

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.django_db(transaction=True), requires_postgres(), pytest.mark.slow]


def test_four_processes_appending_at_once_make_one_unbroken_chain():
    workers, each = 4, 150
    env = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}
    env["DATABASE_URL"] = f"postgresql://127.0.0.1:5432/{connection.settings_dict['NAME']}"
    start_at = time.time() + 3  # time for every process to start Django before any of them appends
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.audit_worker", str(each), str(start_at)],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
        )
        for _ in range(workers)
    ]
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err.decode()[-2000:]

    total = workers * each
    sequences = list(AuditRecord.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, total + 1))  # no gaps, no duplicates
    previous = Counter(AuditRecord.objects.values_list("previous_hash", flat=True))
    assert previous.most_common(1)[0][1] == 1  # no two records claim the same predecessor: no fork
    writers = Counter(AuditRecord.objects.values_list("actor_label", flat=True))
    assert sorted(writers.values()) == [each] * workers
    # The writers really interleaved: the chain switches writer many times.
    labels = list(AuditRecord.objects.order_by("sequence").values_list("actor_label", flat=True))
    assert sum(a != b for a, b in pairwise(labels)) > workers
    result = audit.verify_chain()
    assert result.ok and result.count == total
