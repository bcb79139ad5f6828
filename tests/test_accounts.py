"""Login, second factor, session policy, login throttling, password rules and tokens on the read API."""

import re
import time
from datetime import timedelta

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from governance import sessions
from governance.tokens import create_token, revoke_token

from .conftest import login, make_user

pytestmark = pytest.mark.django_db


def password_of(username: str) -> str:
    return f"{username.capitalize()}-password-1"


def log_in(client: Client, username: str, *, address: str = "10.0.0.1", password: str | None = None):
    return client.post(
        "/accounts/login/", {"username": username, "password": password or password_of(username)}, REMOTE_ADDR=address
    )


def current_code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():06d}"


# --- Second factor ------------------------------------------------------------------------------------------


def test_a_developer_without_a_device_is_sent_to_enrolment_and_can_do_nothing_else(client):
    make_user("devon", "developer")
    assert log_in(client, "devon").status_code == 302
    page = client.get("/tokens/")
    assert page.status_code == 302 and page["Location"].startswith("/account/mfa/setup/")
    assert client.get("/api/v1/tokens").status_code == 403
    assert "second factor" in client.get("/api/v1/tokens").json()["detail"]


def test_enrolment_with_a_qr_code_then_recovery_codes_that_work_once(client):
    user = make_user("devon", "developer")
    log_in(client, "devon")
    setup = client.get("/account/mfa/setup/")
    assert setup.status_code == 200 and "<svg" in setup.content.decode()
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    wrong = client.post("/account/mfa/setup/", {"code": "000000"})
    assert wrong.status_code == 200 and "did not match" in wrong.content.decode()
    device.refresh_from_db()
    device.throttle_reset()  # django-otp slows down guessing after a failure; the test does not wait it out
    done = client.post("/account/mfa/setup/", {"code": current_code(device), "next": "/tokens/"})
    assert done.status_code == 302 and done["Location"].startswith("/account/mfa/recovery/")
    codes_page = client.get(done["Location"]).content.decode()
    codes = re.findall(r"<li><code>([^<]+)</code>", codes_page)
    assert len(codes) == 10
    assert client.get("/tokens/").status_code == 200  # verified in this session
    assert client.get("/account/mfa/recovery/").status_code == 302  # shown once

    # A new session: the recovery code replaces the app once, then no more.
    other = Client()
    log_in(other, "devon")
    assert other.get("/tokens/")["Location"].startswith("/account/mfa/verify/")
    assert other.post("/account/mfa/verify/", {"code": codes[0]}).status_code == 302
    assert other.get("/tokens/").status_code == 200
    third = Client()
    log_in(third, "devon")
    assert third.post("/account/mfa/verify/", {"code": codes[0]}).status_code == 200  # refused: used
    assert third.get("/tokens/").status_code == 302


def test_a_viewer_needs_no_second_factor(client):
    make_user("vic", "viewer")
    log_in(client, "vic")
    assert client.get("/").status_code == 200


def test_the_required_roles_are_a_setting(client, settings):
    settings.TRIBUTARY_MFA_REQUIRED_ROLES = ["viewer"]
    make_user("vic", "viewer")
    log_in(client, "vic")
    assert client.get("/")["Location"].startswith("/account/mfa/setup/")


# --- Sessions -----------------------------------------------------------------------------------------------


def age_session(client, *, login_minutes_ago: float, seen_minutes_ago: float):
    session = client.session
    now = time.time()
    session[sessions.LOGIN_AT] = int(now - login_minutes_ago * 60)
    session[sessions.SEEN_AT] = int(now - seen_minutes_ago * 60)
    session.save()


def test_a_session_ends_after_480_minutes_however_active(client):
    login(client, make_user("vic", "viewer"))
    age_session(client, login_minutes_ago=481, seen_minutes_ago=1)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.get("/api/v1/lineage/report").status_code in (401, 403)


def test_an_idle_session_ends_and_an_active_one_does_not(client, settings):
    settings.TRIBUTARY_SESSION_IDLE_MINUTES = 30
    login(client, make_user("vic", "viewer"))
    age_session(client, login_minutes_ago=100, seen_minutes_ago=29)
    assert client.get("/").status_code == 200
    age_session(client, login_minutes_ago=100, seen_minutes_ago=31)
    expired = client.get("/api/v1/lineage/report")
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]


def test_the_session_cookie_lives_480_minutes(client):
    make_user("vic", "viewer")
    response = log_in(client, "vic")
    assert response.cookies["sessionid"]["max-age"] == 480 * 60


# --- Throttling -----------------------------------------------------------------------------------------------


def test_five_failures_lock_that_username_from_that_address_only(client):
    make_user("vic", "viewer")
    answers = [log_in(client, "vic", address="203.0.113.9", password="wrong").status_code for _ in range(5)]
    assert answers == [200, 200, 200, 200, 429]  # the fifth failure locks
    locked = log_in(Client(), "vic", address="203.0.113.9")
    assert locked.status_code == 429 and "_auth_user_id" not in Client().session
    # vic, typing from their own desk, is not locked out by the stranger's attempts.
    assert log_in(Client(), "vic", address="10.1.2.3").status_code == 302


def test_behind_a_trusted_proxy_failures_count_against_the_real_client(client, settings):
    """The proxy's own address is not the client: five failures from a stranger behind it lock that stranger out,
    not the user's logins from every other desk behind the same proxy."""
    settings.TRIBUTARY_TRUSTED_PROXIES = ["10.9.0.0/16"]
    make_user("vic", "viewer")

    def through_proxy(forwarded_for: str, password: str | None = None):
        return Client().post(
            "/accounts/login/",
            {"username": "vic", "password": password or password_of("vic")},
            REMOTE_ADDR="10.9.0.2",
            HTTP_X_FORWARDED_FOR=forwarded_for,
        )

    answers = [through_proxy("203.0.113.9", password="wrong").status_code for _ in range(5)]
    assert answers == [200, 200, 200, 200, 429]
    assert through_proxy("203.0.113.9").status_code == 429
    assert through_proxy("10.1.2.3").status_code == 302


def test_a_forged_forwarded_for_from_an_untrusted_peer_does_not_dodge_the_lock(client, settings):
    settings.TRIBUTARY_TRUSTED_PROXIES = ["10.9.0.0/16"]
    make_user("vic", "viewer")
    for attempt in range(5):
        client.post(
            "/accounts/login/",
            {"username": "vic", "password": "wrong"},
            REMOTE_ADDR="203.0.113.9",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{attempt}",
        )
    assert log_in(Client(), "vic", address="203.0.113.9").status_code == 429


def test_logging_in_to_your_own_account_between_guesses_does_not_reset_the_count(client, settings):
    """Guessing vic's password from one address, with a good login as oneself after every four guesses: the
    good logins clear the guesser's own record, not the guesses at vic."""
    make_user("vic", "viewer")
    make_user("mallory", "viewer")
    for _ in range(4):
        assert log_in(Client(), "vic", address="203.0.113.9", password="wrong").status_code == 200
    assert log_in(Client(), "mallory", address="203.0.113.9").status_code == 302
    assert log_in(Client(), "vic", address="203.0.113.9", password="wrong").status_code == 429  # the fifth
    assert log_in(Client(), "vic", address="203.0.113.9").status_code == 429
    # vic's own good login from their desk clears their own record there only.
    assert log_in(Client(), "vic", address="10.1.2.3").status_code == 302
    assert log_in(Client(), "vic", address="203.0.113.9").status_code == 429


def test_an_address_trying_many_usernames_is_locked_for_all(client, settings):
    for index in range(settings.TRIBUTARY_LOGIN_IP_FAILURE_LIMIT):
        log_in(client, f"user{index}", address="198.51.100.7", password="wrong")
    make_user("vic", "viewer")
    assert log_in(Client(), "vic", address="198.51.100.7").status_code == 429
    assert log_in(Client(), "vic", address="10.1.2.3").status_code == 302


def test_one_username_guessed_from_many_addresses_is_locked_everywhere(client, settings):
    make_user("vic", "viewer")
    limit = settings.TRIBUTARY_LOGIN_USER_FAILURE_LIMIT
    per_address = settings.AXES_FAILURE_LIMIT - 1  # never enough to lock any one address
    for attempt in range(limit):
        log_in(Client(), "vic", address=f"192.0.2.{attempt // per_address + 1}", password="wrong")
    assert log_in(Client(), "vic", address="10.1.2.3").status_code == 429
    # Other users are not affected, and the lock ends after the cool-off like every other.
    make_user("val", "viewer")
    assert log_in(Client(), "val", address="10.1.2.3").status_code == 302
    from axes.models import AccessAttempt

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert log_in(Client(), "vic", address="10.1.2.3").status_code == 302


def test_a_lockout_ends_after_the_cool_off(client, settings):
    make_user("vic", "viewer")
    for _ in range(5):
        log_in(client, "vic", address="203.0.113.9", password="wrong")
    from axes.models import AccessAttempt

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert log_in(Client(), "vic", address="203.0.113.9").status_code == 302


# --- Passwords ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["short-A1", "alllowercaseletters", "lowercase-with-symbols", "123456789012345"])
def test_weak_passwords_are_refused(password):
    with pytest.raises(ValidationError):
        validate_password(password)


def test_a_long_mixed_password_is_accepted():
    validate_password("Correct-horse-battery-7")


# --- Tokens on the read API -----------------------------------------------------------------------------------


def test_a_read_token_reads_lineage_but_writes_nothing(client):
    secret = create_token(name="script", scope="read").secret
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert client.get("/api/v1/lineage/report", **auth).status_code == 200
    assert client.get("/api/v1/tokens", **auth).status_code == 403
    assert (
        client.post(
            "/api/v1/tokens", {"name": "x", "scope": "read"}, content_type="application/json", **auth
        ).status_code
        == 403
    )


def test_a_read_token_of_an_admin_reads_lineage_and_changes_nothing(client):
    admin = make_user("ada", "admin")
    secret = create_token(name="admin-script", scope="read", owner=admin).secret
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert client.get("/api/v1/lineage/report", **auth).status_code == 200
    assert client.get("/api/v1/tokens", **auth).status_code == 403
    assert (
        client.post(
            "/api/v1/tokens", {"name": "x", "scope": "ingest"}, content_type="application/json", **auth
        ).status_code
        == 403
    )
    assert client.delete("/api/v1/tokens/1", **auth).status_code == 403
    assert client.post("/api/v1/connections", {"id": "x"}, content_type="application/json", **auth).status_code == 403


def test_an_ingest_token_reads_nothing(client):
    secret = create_token(name="airflow", scope="ingest").secret
    assert client.get("/api/v1/lineage/report", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 403


def test_revoked_and_expired_read_tokens_are_401(client):
    revoked = create_token(name="old", scope="read")
    revoke_token(token=revoked.token)
    expired = create_token(name="tmp", scope="read", expires_at=timezone.now() - timedelta(minutes=1))
    for secret in (revoked.secret, expired.secret):
        assert client.get("/api/v1/lineage/report", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401


def test_developers_manage_their_own_tokens_and_admins_all(client):
    devi, other = make_user("devi", "developer"), make_user("dana", "developer")
    theirs = create_token(name="dana's", scope="ingest", owner=other).token
    login(client, devi)
    made = client.post(
        "/api/v1/tokens", {"name": "mine", "scope": "ingest", "expiresInDays": 30}, content_type="application/json"
    ).json()
    assert made["token"].startswith("trb_") and made["owner"] == "devi"
    listed = client.get("/api/v1/tokens").json()["tokens"]
    assert [t["name"] for t in listed] == ["mine"] and "token" not in listed[0]
    assert client.delete(f"/api/v1/tokens/{theirs.pk}").status_code == 404
    assert client.delete(f"/api/v1/tokens/{made['id']}").status_code == 204
    assert client.get(f"/api/v1/tokens/{made['id']}").json()["active"] is False
    login(client, make_user("ada", "admin"))
    assert {t["name"] for t in client.get("/api/v1/tokens").json()["tokens"]} == {"mine", "dana's"}


def test_the_tokens_page_shows_a_new_secret_once(client):
    login(client, make_user("devi", "developer"))
    page = client.post("/tokens/", {"name": "airflow", "scope": "ingest"}).content.decode()
    assert 'id="new-token">trb_' in page
    assert "trb_" not in client.get("/tokens/").content.decode().replace(">trb_", "")  # only the prefix column


def test_a_user_who_may_list_tokens_but_not_make_them_is_refused_and_the_refusal_recorded(client):
    from django.contrib.auth.models import Permission

    from governance.models import AuditRecord

    lister = make_user("lee", None)
    lister.user_permissions.add(Permission.objects.get(codename="view_apitoken"))
    login(client, lister)
    assert client.get("/tokens/").status_code == 200
    refused = client.post("/tokens/", {"name": "sneaky", "scope": "ingest"})
    assert refused.status_code == 403 and "trb_" not in refused.content.decode()
    denied = AuditRecord.objects.filter(action="access.denied", actor_label="lee").get()
    assert (denied.outcome, denied.detail["method"], denied.detail["path"]) == ("denied", "POST", "/tokens/")
