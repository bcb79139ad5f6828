"""Login throttling (django-axes) with three limits.

A username is locked from one address after AXES_FAILURE_LIMIT failures; an address is locked for every username
after TRIBUTARY_LOGIN_IP_FAILURE_LIMIT failures; a username is locked from every address after
TRIBUTARY_LOGIN_USER_FAILURE_LIMIT failures in all (guessing one password from many addresses). Someone typing
wrong passwords for alice from elsewhere locks themselves out, not alice, until they spread a guessing campaign
over many addresses; and every lockout ends after the cool-off time.
"""

import copy

from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import QueryDict


class TributaryAxesHandler(AxesDatabaseHandler):
    def get_failures(self, request, credentials=None) -> int:
        per_user_and_address, per_address, per_user = (
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        # axes has one limit; the wider counts are scaled to it.
        limit = settings.AXES_FAILURE_LIMIT
        return max(
            per_user_and_address,
            int(per_address * limit / settings.TRIBUTARY_LOGIN_IP_FAILURE_LIMIT),
            int(per_user * limit / settings.TRIBUTARY_LOGIN_USER_FAILURE_LIMIT),
        )

    def reset_user_attempts(self, request, credentials=None) -> int:
        """A good password clears that user's failures from that address, and nothing else. axes' own reset
        deletes every row matching any lockout parameter: with the per-address limit, that is every failure
        from the address, so an attacker who logged in to their own account between guesses at someone else's
        (or re-authenticated) would never reach a limit."""
        username = get_client_username(request, credentials)
        count, _ = AccessAttempt.objects.filter(username=username, ip_address=request.axes_ip_address).delete()
        return count


# --- Re-authentication ---------------------------------------------------------------------------------------
# Re-authenticating checks the same password a login does, so it shares the login's counters (axes' rows in the
# database, seen by every process): a wrong password at /api/v1/reauth or on a connection page counts as a failed
# login of that user from that address, and a locked user or address can neither log in nor re-authenticate
# until the cool-off ends. A wrong second-factor code counts the same way (it is a guess too).


def _attempt(request):
    """The request as axes sees it: address, user agent and path, but no form or query. axes stores what it is
    given, and a form here holds the password typed and, on the edit page, the connection's own new secrets. A
    copy, also, so that axes' lockout flag never reaches its middleware: the caller answers the lockout itself
    (JSON for the API, a message on the page), not with axes' login page."""
    http = getattr(request, "_request", request)  # DRF's Request wraps Django's
    attempt = copy.copy(http)
    for name in [name for name in vars(attempt) if name.startswith("axes_")]:
        delattr(attempt, name)
    attempt.GET, attempt.POST = QueryDict(), QueryDict()
    return attempt


def reauth_locked(request, *, username: str) -> bool:
    """Whether this user, from this address, is locked out (login and re-authentication) for now."""
    return not AxesProxyHandler.is_allowed(_attempt(request), {"username": username})


def reauth_failed(request, *, username: str) -> bool:
    """Count a failed re-authentication; returns whether it locked the user out."""
    attempt = _attempt(request)
    AxesProxyHandler.user_login_failed(sender=reauth_failed, credentials={"username": username}, request=attempt)
    return bool(getattr(attempt, "axes_locked_out", False))


def reauth_succeeded(request, *, username: str) -> None:
    """A good re-authentication clears the failures, as a good login does (AXES_RESET_ON_SUCCESS)."""
    if settings.AXES_RESET_ON_SUCCESS:
        attempt = _attempt(request)
        AxesProxyHandler.update_request(attempt)
        AxesProxyHandler.get_implementation().reset_user_attempts(attempt, {"username": username})


def cool_off_minutes() -> int:
    return max(1, round(settings.AXES_COOLOFF_TIME * 60))
