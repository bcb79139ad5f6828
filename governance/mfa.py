"""Second factor: TOTP (django-otp) with recovery codes, required for the roles in TRIBUTARY_MFA_REQUIRED_ROLES.

A user who must use MFA and has not verified a device in this session can do nothing but enrol (no device yet)
or verify (a device exists), and log out.
"""

import secrets

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django_otp import devices_for_user
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .errors import error_body

RECOVERY_CODES = 10
EXEMPT_PREFIXES = ("/account/mfa/", "/accounts/logout/", "/accounts/login/", "/static/", "/healthz", "/metrics")


def mfa_required(user) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    required = set(settings.TRIBUTARY_MFA_REQUIRED_ROLES)
    return any(group.name in required for group in user.groups.all())


def has_device(user) -> bool:
    return any(devices_for_user(user, confirmed=True))


def pending_totp(user) -> TOTPDevice:
    """The device being enrolled (created unconfirmed, confirmed by the first good code)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def confirm_totp(request, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm enrolment with a first code; returns the new recovery codes (shown once) or None."""
    if not device.verify_token(code.strip()):
        return None
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    otp_login(request, device)
    return new_recovery_codes(request.user)


def new_recovery_codes(user) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    codes = [secrets.token_hex(8) for _ in range(RECOVERY_CODES)]  # 64 bits each; django-otp stores 16 chars
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def verify(request, code: str) -> bool:
    """A TOTP code or an unused recovery code (a recovery code works once)."""
    code = code.strip().replace(" ", "").replace("-", "").lower()
    for device in devices_for_user(request.user, confirmed=True):
        if device.verify_token(code):
            otp_login(request, device)
            return True
    return False


def safe_next(request, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or default
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


class MFARequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(EXEMPT_PREFIXES)
            and mfa_required(user)
            and not user.is_verified()
        ):
            step = "mfa-verify" if has_device(user) else "mfa-setup"
            if request.path.startswith("/api/"):
                from .audit import record_denied

                record_denied(request=request, reason="second factor required")
                message = "Your role needs a second factor: complete it in the browser first."
                return JsonResponse(error_body(403, message, request, detail=message, mfa=reverse(step)), status=403)
            return redirect(f"{reverse(step)}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
