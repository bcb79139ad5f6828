"""Session policy: an absolute lifetime (the seed's 480 minutes) and an idle timeout, enforced server-side."""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import JsonResponse
from django.shortcuts import redirect

from governance.api.errors import error_body

LOGIN_AT, SEEN_AT = "tributary_login_at", "tributary_seen_at"
# Writing the session on every request would cost a database write per request: refresh at this resolution.
SEEN_RESOLUTION = 60


def start(request) -> None:
    """Called at login."""
    now = int(time.time())
    request.session[LOGIN_AT] = now
    request.session[SEEN_AT] = now


def expired(request) -> str | None:
    """Why the session is over, or None."""
    now = time.time()
    login_at = request.session.get(LOGIN_AT)
    seen_at = request.session.get(SEEN_AT, login_at)
    if login_at is None:
        return None
    if now - login_at > settings.TRIBUTARY_SESSION_TIMEOUT_MINUTES * 60:
        return "timeout"
    if seen_at is not None and now - seen_at > settings.TRIBUTARY_SESSION_IDLE_MINUTES * 60:
        return "idle"
    return None


class SessionPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            reason = expired(request)
            if reason is not None:
                from governance.audit import record_session_expired

                record_session_expired(user=user, request=request, reason=reason)
                logout(request)
                if request.path.startswith("/api/"):
                    message = "Your session has expired; log in again."
                    return JsonResponse(error_body(401, message, request, detail=message), status=401)
                messages.info(request, "Your session has expired; please log in again.")
                return redirect(f"{settings.LOGIN_URL}?next={request.path}")
            now = int(time.time())
            if now - request.session.get(SEEN_AT, 0) >= SEEN_RESOLUTION:
                request.session[SEEN_AT] = now
        return self.get_response(request)
