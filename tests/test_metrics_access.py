"""/metrics answers only the scrapers the settings let in: an allowed address (the real peer, or the client a trusted
proxy names), the right bearer token, or everyone when made public. /healthz stays open for load balancers."""

import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.django_db

OUTSIDER = "203.0.113.9"
TOKEN = "scrape-7e1c0f0b7a5f4c2c9d3e"


def test_metrics_answer_the_machine_itself_by_default(client):
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert b"tributary_derive_queue_depth" in response.content


def test_metrics_answer_an_ipv6_loopback_peer_by_default(client):
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


def test_metrics_are_refused_to_another_address(client):
    response = client.get("/metrics", REMOTE_ADDR=OUTSIDER)
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/plain")
    assert b"tributary_" not in response.content
    assert b"Traceback" not in response.content


def test_metrics_answer_an_address_in_an_allowed_network(client, settings):
    settings.TRIBUTARY_METRICS_ALLOWED_IPS = ["10.20.0.0/16"]
    assert client.get("/metrics", REMOTE_ADDR="10.20.3.4").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.21.3.4").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


def test_a_forged_forwarded_for_from_an_untrusted_peer_does_not_get_in(client):
    response = client.get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert response.status_code == 403


def test_a_trusted_proxy_is_believed_about_the_client_it_served(client, settings):
    settings.TRIBUTARY_TRUSTED_PROXIES = ["10.0.0.5"]
    settings.TRIBUTARY_METRICS_ALLOWED_IPS = ["192.0.2.0/24"]
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="192.0.2.7").status_code == 200
    # The proxy forwarding an outsider: the outsider is refused, whatever it wrote further left.
    forged = f"192.0.2.7, {OUTSIDER}"
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=forged).status_code == 403


def test_a_proxy_on_the_machine_does_not_open_metrics_to_the_clients_it_serves(client, settings):
    settings.TRIBUTARY_TRUSTED_PROXIES = ["127.0.0.1"]
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=OUTSIDER).status_code == 403


def test_metrics_answer_the_right_bearer_token_from_anywhere(client, settings):
    settings.TRIBUTARY_METRICS_TOKEN = TOKEN
    response = client.get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "authorization", [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer ", f"Basic {TOKEN}", TOKEN, ""]
)
def test_a_wrong_token_is_refused(client, settings, authorization):
    settings.TRIBUTARY_METRICS_TOKEN = TOKEN
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION=authorization).status_code == 403


def test_no_token_is_accepted_when_none_is_configured(client, settings):
    settings.TRIBUTARY_METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION="Bearer ").status_code == 403


def test_metrics_can_be_made_public_explicitly(client, settings):
    settings.TRIBUTARY_METRICS_PUBLIC = True
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDER).status_code == 200


def test_the_health_probe_stays_open_to_every_address(client):
    assert client.get("/healthz", REMOTE_ADDR=OUTSIDER).status_code == 200


def test_a_malformed_allow_list_is_refused_at_startup(settings):
    from governance.checks import address_lists

    settings.TRIBUTARY_METRICS_ALLOWED_IPS = ["127.0.0.1", "10.0.0.0/8x"]
    errors = address_lists()
    assert [error.id for error in errors] == ["governance.E010"]
    assert "10.0.0.0/8x" in errors[0].msg


@pytest.mark.django_db(transaction=True)
def test_a_forwarded_for_header_over_a_real_socket_is_not_believed_from_an_untrusted_peer(live_server, settings):
    # A real connection from this machine: the peer is 127.0.0.1, which is not a trusted proxy.
    settings.TRIBUTARY_METRICS_ALLOWED_IPS = ["192.0.2.0/24"]
    request = urllib.request.Request(f"{live_server.url}/metrics", headers={"X-Forwarded-For": "192.0.2.7"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    settings.TRIBUTARY_TRUSTED_PROXIES = ["127.0.0.1"]
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
