"""Every API error speaks one shape: Marquez's `code` (the status) and `message`, with `errors` where there are
several problems, whichever part of the API answers (DRF views, the ingestion door, middleware, the URL resolver)."""

import pytest

from .conftest import login

JSON = "application/json"


def assert_error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith(JSON), response["Content-Type"]
    body = response.json()
    assert body["code"] == status
    assert isinstance(body["message"], str) and body["message"]
    return body


@pytest.mark.parametrize("path", ["/api/v1/nothing", "/api/v2/lineage", "/api/v1/tokens/not-a-number"])
def test_an_unknown_api_path_is_a_json_404(client, cast, path):
    login(client, cast["vera"])
    body = assert_error(client.get(path), 404)
    assert path in body["message"]


def test_an_unknown_page_is_still_the_html_404(client, cast):
    login(client, cast["vera"])
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_bad_read_parameter_names_it(client, cast):
    login(client, cast["vera"])
    body = assert_error(client.get("/api/v1/namespaces", {"limit": "-1"}), 400)
    assert "limit" in body["message"]


def test_a_bad_body_lists_each_field_at_its_json_pointer(client, cast):
    login(client, cast["devi"])
    response = client.post("/api/v1/connections", {"id": "w", "port": 70000, "namespaces": "x"}, content_type=JSON)
    body = assert_error(response, 400)
    paths = {problem["path"] for problem in body["errors"]}
    assert {"/port", "/namespaces"} <= paths
    assert "port" in body["message"]


def test_a_refusal_by_role_is_a_json_403_in_the_same_shape(client, cast):
    login(client, cast["vera"])
    body = assert_error(client.get("/api/v1/connections"), 403)
    assert body["detail"] == body["message"]


def test_no_login_is_a_json_401_in_the_same_shape(client, db):
    assert_error(client.get("/api/v1/lineage", {"nodeId": "dataset:x:y"}), 401)


def test_an_ingestion_refusal_carries_code_and_message_beside_its_pointers(post_event):
    body = assert_error(post_event({"eventType": "START"}), 400)
    assert body["errors"] and all("path" in problem for problem in body["errors"])
    assert body["message"].startswith(body["errors"][0]["path"])
    body = assert_error(post_event({"eventType": "START"}, token="trb_wrong"), 401)
    assert "token" in body["message"]
