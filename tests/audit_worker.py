"""A separate process that appends audit records as fast as it can, for the concurrency test and bench_audit.

`python -m tests.audit_worker COUNT START_AT` with DATABASE_URL set: waits until the epoch time START_AT so that
all workers start together, then appends COUNT records, one transaction each.
"""

import os
import sys
import time


def main(count: int, start_at: float) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
    import django

    django.setup()
    from governance import audit

    time.sleep(max(0.0, start_at - time.time()))
    for number in range(count):
        audit.record(
            "metadata.updated",
            actor=f"worker:{os.getpid()}",
            target=("lineage.dataset", number, f"mart.table_{number}"),
            changes={"description": {"before": "", "after": f"written by {os.getpid()}"}},
        )


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]))
