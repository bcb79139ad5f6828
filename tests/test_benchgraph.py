"""The benchmark graph loaded straight into the store answers the read API exactly as the same graph ingested."""

from urllib.parse import quote

import pytest

from lineage.benchgraph import DATA_NS, JOBS_NS, LayeredGraph
from lineage.derive import queue
from lineage.derive.queue import derive_pending
from lineage.ingest import services
from lineage.models import DeriveQueue, JobEdge, RawEvent

pytestmark = pytest.mark.django_db

SMALL = LayeredGraph(layers=5, width=6, fan_in=3, seed=7)


def read_everything(client) -> dict:
    """The answers of the lineage API and the Marquez reads around a few nodes of the small graph."""
    answers = {}

    def get(path, params=None):
        response = client.get(path, params or {})
        assert response.status_code in (200, 404), (path, params, response.content[:300])
        body = response.json()
        if isinstance(body, dict):
            body.pop("computedAt", None)
            body.pop("computeSeconds", None)
            body.pop("requestId", None)  # each answer's own
        answers[(path, tuple(sorted((params or {}).items())))] = (response.status_code, body)

    starts = [f"dataset:{DATA_NS}:{SMALL.dataset(layer, index)}" for layer, index in ((4, 0), (4, 5), (2, 3), (0, 1))]
    starts.append(f"job:{JOBS_NS}:{SMALL.job(2, 1)}")
    for node in starts:
        for query in (
            {"depth": 2, "direction": "upstream"},
            {"depth": 6, "direction": "upstream"},
            {"depth": 20},
            {"depth": 5, "direction": "downstream", "view": "latest"},
            {"depth": 20, "asOf": SMALL.time(3, 2).isoformat()},
            {"depth": 8, "limit": 7},
        ):
            get("/api/v1/lineage", {"nodeId": node, **query})
        get("/api/v1/impact", {"nodeId": node})
    get("/api/v1/lineage/report")
    datasets, jobs = quote(DATA_NS, safe=""), quote(JOBS_NS, safe="")
    get("/api/v1/namespaces")
    get(f"/api/v1/namespaces/{datasets}/datasets", {"limit": 100})
    get(f"/api/v1/namespaces/{datasets}/datasets/{SMALL.dataset(3, 4)}")
    get(f"/api/v1/namespaces/{datasets}/datasets/{SMALL.dataset(3, 4)}/versions")
    get(f"/api/v1/namespaces/{jobs}/jobs", {"limit": 100})
    get(f"/api/v1/namespaces/{jobs}/jobs/{SMALL.job(3, 4)}")
    get(f"/api/v1/namespaces/{jobs}/jobs/{SMALL.job(3, 4)}/runs")
    get(f"/api/v1/jobs/runs/{SMALL.run_id(2, 0)}")
    return answers


def wipe_lineage():
    queue.rebuild()
    DeriveQueue.objects.all().delete()
    RawEvent.objects.all().delete()


def test_the_loaded_graph_answers_like_the_same_graph_ingested(as_user):
    reader = as_user("vera")
    SMALL.load()
    assert SMALL.loaded() is True
    assert RawEvent.objects.count() == SMALL.layers * SMALL.width
    assert JobEdge.objects.count() == SMALL.edges
    loaded = read_everything(reader)

    wipe_lineage()
    for event in SMALL.events():
        assert services.ingest_event(event=event, source="cli", derive=False).stored
    derive_pending(batch_size=7)  # several batches, so rows are merged into as well as created
    ingested = read_everything(reader)

    assert loaded.keys() == ingested.keys()
    for key in ingested:
        assert loaded[key] == ingested[key], key


def test_a_partial_or_other_graph_is_not_taken_for_the_benchmark_graph():
    assert SMALL.loaded() is False
    LayeredGraph(layers=4, width=6, fan_in=3, seed=7).load()
    assert SMALL.loaded() is None
    with pytest.raises(ValueError):
        SMALL.load()
