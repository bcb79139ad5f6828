"""The app's settings with the benchmark's floor URLconf: `bench_ingest` serves the bare view with these, so the
view is never reachable from the production URLconf (`governance.urls`)."""

from governance.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
