"""A reader narrowed to some namespaces learns nothing from a "not found" about the namespaces they may not see.

vic is a viewer granted `airflow` only; `vaultdb` holds the secret_customers table (with its ssn field) and the
export job that reads it. For every read that names a node, vic asking for (a) a node that exists in vaultdb,
(b) a node vaultdb does not have and (c) a node of a namespace that does not exist gets the same status and the
same body, once what vic asked is taken out of it: nothing tells vic that vaultdb or its table exist. vera, an
unrestricted viewer, reads (a) and still gets a message for (b) that differs from (c)'s, which shows the three
cases really are different ones.
"""

import re

import pytest

from lineage.models import Annotation

from .conftest import login, make_user
from .events import dataset, run_event

pytestmark = pytest.mark.django_db

SEEN, HIDDEN = "airflow", "vaultdb"
# (a) exists in the hidden namespace, (b) is missing from it, (c) names a namespace that does not exist.
CASES = {
    "dataset": ((HIDDEN, "secret_customers"), (HIDDEN, "nonexist"), ("nonns", "nowhere")),
    "job": ((HIDDEN, "export"), (HIDDEN, "nonexist"), ("nonns", "nowhere")),
    "datasetField": ((HIDDEN, "secret_customers"), (HIDDEN, "nonexist"), ("nonns", "nowhere")),
}
FIELD = "ssn"
FROM = "2020-01-01T00:00:00Z"
# The API reads that start from a node, the kinds of node each starts from, and the parameters each needs.
NODE_READS = (
    ("/api/v1/lineage", ("dataset", "job", "datasetField"), {}),
    ("/api/v1/column-lineage", ("dataset", "datasetField"), {}),
    ("/api/v1/impact", ("dataset", "job"), {}),
    ("/api/v1/lineage/diff", ("dataset", "job"), {"from": FROM}),
    ("/api/v1/metadata", ("dataset", "job"), {}),
)
API_CASES = [
    pytest.param(path, kind, form, extra, id=f"{path}-{kind}-{form}")
    for path, kinds, extra in NODE_READS
    for kind in kinds
    for form in ("nodeId", "parameters")
]
PAGE_CASES = [
    pytest.param(path, kind, id=f"{path}-{kind}")
    for path, kinds in (("/lineage/", ("dataset", "job", "datasetField")), ("/impact/", ("dataset", "job")))
    for kind in kinds
]


@pytest.fixture
def estate(post_event):
    export = run_event(
        "COMPLETE",
        run_id="vault-export-1",
        job=(HIDDEN, "export"),
        inputs=[dataset(HIDDEN, "secret_customers", fields=[FIELD])],
        outputs=[dataset(SEEN, "orders", fields=["id"])],
    )
    load = run_event("COMPLETE", run_id="load-1", seconds=1, inputs=[dataset(SEEN, "orders")])
    for event in (export, load):
        assert post_event(event).status_code == 201


@pytest.fixture
def vic(client, estate):
    return login(client, make_user("vic", "viewer", namespaces=(SEEN,)))


@pytest.fixture
def vera(client, estate):
    return login(client, make_user("vera", "viewer"))


def asking(kind: str, case: int, form: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """The query naming a case's node, and what of it an answer may echo."""
    namespace, name = CASES[kind][case]
    if form == "nodeId":
        rest = f"{namespace}:{name}" + (f":{FIELD}" if kind == "datasetField" else "")
        return {"nodeId": f"{kind}:{rest}"}, (f"{kind}:{rest}", rest)
    query = {"type": kind, "namespace": namespace, "name": name}
    if kind == "datasetField":
        query["field"] = FIELD
    return query, (namespace, name)


def echoless(text: str, asked: tuple[str, ...]) -> str:
    """`text` with what was asked taken out, and what differs on every request: a page's CSRF token, the id of
    the request."""
    for value in sorted(asked, key=len, reverse=True):
        text = text.replace(value, "<asked>")
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", text)
    return re.sub(r',?"requestId":"[^"]*"', "", text)


def answers(send, kind: str, form: str) -> list[tuple[int, str]]:
    """(status, body without the echo) for the three cases."""
    result = []
    for case in range(3):
        query, asked = asking(kind, case, form)
        response = send(query)
        result.append((response.status_code, echoless(response.content.decode(), asked)))
    return result


@pytest.mark.parametrize(("path", "kind", "form", "extra"), API_CASES)
def test_a_narrowed_reader_cannot_tell_a_hidden_node_from_a_missing_one_or_a_missing_namespace(
    vic, path, kind, form, extra
):
    hidden, missing, nowhere = answers(lambda query: vic.get(path, {**query, **extra}), kind, form)
    assert hidden == missing == nowhere
    assert hidden[0] == 404 and HIDDEN not in hidden[1]


@pytest.mark.parametrize(("path", "kind", "form", "extra"), API_CASES)
def test_an_unrestricted_reader_still_hears_which_part_of_a_node_is_unknown(vera, path, kind, form, extra):
    found, missing, nowhere = answers(lambda query: vera.get(path, {**query, **extra}), kind, form)
    assert found[0] == 200 and missing[0] == nowhere[0] == 404
    assert missing != nowhere  # "no dataset 'nonexist' in namespace 'vaultdb'" against "no known namespace ..."


def test_the_messages_say_what_is_unknown_to_each_reader(client, estate):
    login(client, make_user("vic", "viewer", namespaces=(SEEN,)))
    node_id = f"dataset:{HIDDEN}:secret_customers"
    assert client.get("/api/v1/lineage", {"nodeId": node_id}).json()["message"] == (
        f"no namespace you may read starts '{HIDDEN}:secret_customers'"
    )
    explicit = {"type": "dataset", "namespace": HIDDEN, "name": "nonexist"}
    assert client.get("/api/v1/impact", explicit).json()["message"] == f"no namespace you may read named '{HIDDEN}'"
    # In a namespace vic may read, the helpful message stays: it tells vic nothing new.
    assert client.get("/api/v1/lineage", {"nodeId": f"dataset:{SEEN}:nonexist"}).json()["message"] == (
        f"no dataset 'nonexist' in namespace '{SEEN}'"
    )
    login(client, make_user("vera", "viewer"))
    assert client.get("/api/v1/lineage", {"nodeId": f"dataset:{HIDDEN}:nonexist"}).json()["message"] == (
        f"no dataset 'nonexist' in namespace '{HIDDEN}'"
    )
    assert client.get("/api/v1/lineage", {"nodeId": "dataset:nonns:nowhere"}).json()["message"] == (
        "no known namespace starts 'nonns:nowhere'"
    )


def test_a_narrowed_reader_resolves_a_node_id_among_the_namespaces_they_may_see(client, post_event):
    # `airflow:vaultdb` (hidden) is the longer reading of this id; vic's only reading is airflow's dataset.
    dataset_id = f"dataset:{SEEN}:{HIDDEN}:t"
    for namespace, name in ((f"{SEEN}:{HIDDEN}", "t"), (SEEN, f"{HIDDEN}:t")):
        event = run_event("COMPLETE", run_id=f"run-{namespace}", outputs=[dataset(namespace, name)])
        assert post_event(event).status_code == 201
    login(client, make_user("vic", "viewer", namespaces=(SEEN,)))
    (node,) = client.get("/api/v1/lineage", {"nodeId": dataset_id, "depth": 0}).json()["graph"]
    assert node["data"]["namespace"] == SEEN and node["data"]["name"] == f"{HIDDEN}:t"
    login(client, make_user("vera", "viewer"))
    (node,) = client.get("/api/v1/lineage", {"nodeId": dataset_id, "depth": 0}).json()["graph"]
    assert node["data"]["namespace"] == f"{SEEN}:{HIDDEN}"


@pytest.mark.parametrize("form", ["nodeId", "parameters"])
@pytest.mark.parametrize("kind", ["dataset", "job"])
def test_a_narrowed_steward_cannot_tell_a_hidden_node_from_a_missing_one_by_editing_it(client, estate, kind, form):
    login(client, make_user("sid", "steward", namespaces=(SEEN,)))

    def patch(query):
        return client.patch(
            "/api/v1/metadata?" + "&".join(f"{k}={v}" for k, v in query.items()),
            {"description": "mine now"},
            content_type="application/json",
        )

    hidden, missing, nowhere = answers(patch, kind, form)
    assert hidden == missing == nowhere and hidden[0] == 404
    assert not Annotation.objects.exists()
    login(client, make_user("stan", "steward"))
    assert patch(asking(kind, 0, form)[0]).status_code == 200  # the same request reaches the node when it may


@pytest.mark.parametrize("kind", ["dataset", "job"])
def test_the_metadata_form_answers_a_narrowed_steward_the_same_for_a_hidden_node(client, estate, kind):
    login(client, make_user("sid", "steward", namespaces=(SEEN,)))
    hidden, missing, nowhere = answers(
        lambda query: client.post("/metadata/", {"node": query["nodeId"], "description": "mine now"}), kind, "nodeId"
    )
    assert hidden == missing == nowhere and hidden[0] == 404
    assert not Annotation.objects.exists()


@pytest.mark.parametrize(("path", "kind"), PAGE_CASES)
def test_the_explorer_and_impact_pages_answer_a_hidden_node_as_a_missing_one(vic, path, kind):
    hidden, missing, nowhere = answers(lambda query: vic.get(path, query), kind, "nodeId")
    assert hidden == missing == nowhere and hidden[0] == 404


@pytest.mark.parametrize(
    "path",
    [
        "/datasets/{namespace}/{name}",
        "/jobs/{namespace}/{name}",
        "/api/v1/namespaces/{namespace}/datasets/{name}",
        "/api/v1/namespaces/{namespace}/datasets/{name}/versions",
        "/api/v1/namespaces/{namespace}/jobs/{name}",
        "/api/v1/namespaces/{namespace}/jobs/{name}/runs",
    ],
)
def test_the_pages_and_marquez_routes_answer_a_hidden_node_as_a_missing_one(client, estate, path):
    kind = "job" if "/jobs/" in path else "dataset"

    def get(query):
        return client.get(path.format(namespace=query["namespace"], name=query["name"]))

    login(client, make_user("vic", "viewer", namespaces=(SEEN,)))
    hidden, missing, nowhere = answers(get, kind, "parameters")
    assert hidden == missing == nowhere and hidden[0] == 404
    login(client, make_user("vera", "viewer"))
    assert answers(get, kind, "parameters")[0][0] == 200
