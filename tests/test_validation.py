"""OpenLineage validation is pure: these tests need no database."""

import copy

import pytest

from lineage.validation import facet_paths, parse_event_time, validate_event

from .conftest import INVALID_DIR, example_event_names, invalid_event_names, load_event


@pytest.mark.parametrize("name", example_event_names())
def test_every_example_event_is_valid(name):
    result = validate_event(load_event(name))
    assert result.errors == []


@pytest.mark.parametrize("name", [n for n in invalid_event_names() if n != "event_no_run_id.json"])
def test_malformed_standard_facets_are_warnings_naming_the_facet(name):
    result = validate_event(load_event(name, INVALID_DIR))
    assert result.ok
    assert result.warnings, "a malformed standard facet must be reported"
    facet_kind = name.removeprefix("event_invalid_").removesuffix("_facet.json")
    container = {
        "run": "/run/facets/",
        "job": "/job/facets/",
        "dataset": "/outputs/0/facets/",
        "input_dataset": "/inputs/0/inputFacets/",
        "output_dataset": "/outputs/0/outputFacets/",
    }[facet_kind]
    assert all(w.path.startswith(container) for w in result.warnings)


def test_an_event_without_run_id_is_refused_at_that_path():
    result = validate_event(load_event("event_no_run_id.json", INVALID_DIR))
    assert [e.as_dict()["path"] for e in result.errors] == ["/run/runId"]
    assert "runId" in result.errors[0].message


def test_wrong_types_are_refused_with_their_paths():
    event = load_event("airflow3_dag_start.json")
    event["eventTime"] = 12
    event["job"]["name"] = ["not", "a", "string"]
    paths = {e.path for e in validate_event(event).errors}
    assert paths == {"/eventTime", "/job/name"}


def test_a_job_without_a_name_is_refused():
    event = load_event("airflow3_dag_start.json")
    del event["job"]["name"]
    assert [e.path for e in validate_event(event).errors] == ["/job/name"]


def test_blank_identities_and_unreadable_times_are_refused():
    event = load_event("generic_complete_with_schema.json")
    event["run"]["runId"] = "  "
    event["outputs"][0]["name"] = ""
    assert {e.path for e in validate_event(event).errors} == {"/run/runId", "/outputs/0/name"}
    event = load_event("generic_complete_with_schema.json")
    event["eventTime"] = "yesterday at noon"
    assert [e.path for e in validate_event(event).errors] == ["/eventTime"]


def test_a_json_array_or_string_is_not_an_event():
    assert not validate_event([1, 2]).ok
    assert not validate_event("START").ok


def test_lenient_where_producers_are_lenient():
    # Naive eventTime, non-UUID runId and non-URI producer all come from real producers.
    for name in ("edge_event_time_without_timezone.json", "edge_non_uuid_run_id_simple_event.json"):
        assert validate_event(load_event(name)).ok
    event = load_event("airflow3_dag_start.json")
    event["producer"] = "airflow"
    event["run"]["facets"]["my_company_facet"] = {"anything": [1, 2, 3]}  # custom, no _producer
    result = validate_event(event)
    assert result.ok and result.warnings == []


def test_airflow_own_facets_never_cause_a_warning():
    # Airflow 3 sends retry_exponential_backoff as 0 and no taskInstance.pool: not our business to refuse.
    event = load_event("airflow3_python_task_complete.json")
    airflow = event["run"]["facets"]["airflow"]
    airflow["task"]["retry_exponential_backoff"] = 0
    del airflow["taskInstance"]["pool"]
    assert validate_event(event).warnings == []


def test_a_deleted_facet_is_not_checked_against_its_schema():
    assert validate_event(load_event("derived_static_dataset_event_delete_ownership_facet.json")).warnings == []


def test_the_same_key_is_checked_by_its_position():
    # `ownership` is a job facet and a dataset facet with different schemas.
    event = load_event("python_client_example_full_event.json")
    event = copy.deepcopy(event)
    event["job"]["facets"]["ownership"] = {
        "_producer": "https://example.com",
        "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/OwnershipJobFacet.json",
        "owners": [{"name": "team:data"}],
    }
    assert validate_event(event).warnings == []
    event["job"]["facets"]["ownership"]["owners"] = [{"type": "team"}]
    assert [w.path for w in validate_event(event).warnings] == ["/job/facets/ownership/owners/0/name"]


def test_warnings_name_the_facet_to_leave_out():
    warnings = [{"path": "/outputs/0/outputFacets/outputStatistics/rowCount", "message": "x"}]
    assert facet_paths(warnings) == {"/outputs/0/outputFacets/outputStatistics"}


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2020-12-28T19:51:01.641Z", "2020-12-28T19:51:01.641000+00:00"),
        ("2020-12-28T19:52:00.001+10:00", "2020-12-28T09:52:00.001000+00:00"),
        ("2021-11-03T10:53:52.427343", "2021-11-03T10:53:52.427343+00:00"),
    ],
)
def test_event_times_are_read_as_utc(text, iso):
    assert parse_event_time(text).isoformat() == iso
