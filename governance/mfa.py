"""Second factor: TOTP (django-otp) with recovery codes, required for the roles in TRIBUTARY_MFA_REQUIRED_ROLES.

A user who must use MFA and has not verified a device in this session can do nothing but enrol (no device yet)
or verify (a device exists), and log out.
"""

import math
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django_otp import devices_for_user
from django_otp import login as otp_login
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from governance.api.errors import error_body

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


@dataclass(frozen=True)
class CodeCheck:
    """The answer to a second-factor code. `reused`: a code the authenticator still shows but that was already
    accepted (each TOTP code works once); `wait_seconds`: django-otp slows down guessing after a wrong code, and
    until then no code is checked. Neither is a guess, so neither counts toward the login throttle."""

    ok: bool
    reused: bool = False
    wait_seconds: int = 0
    device: object = None

    def __bool__(self) -> bool:
        return self.ok

    @property
    def problem(self) -> str:
        if self.reused:
            return "this code was already used: wait for the next one (codes change every 30 seconds)"
        if self.wait_seconds:
            unit = "second" if self.wait_seconds == 1 else "seconds"
            return f"wait {self.wait_seconds} {unit} before the next code (a wrong code slows down the next one)"
        return "" if self.ok else "that second-factor code did not match"


def normalise_code(code: str) -> str:
    return code.strip().replace(" ", "").replace("-", "").lower()


def _already_used(device: TOTPDevice, code: str) -> bool:
    """Whether `code` is one the device would accept now but for having accepted its time step already (at or
    before last_t), within the device's drift and tolerance, as TOTPDevice.verify_token looks."""
    if device.last_t < 0 or not code.isdigit():
        return False
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = timezone.now().timestamp()
    for offset in range(-device.tolerance, device.tolerance + 1):
        totp.drift = device.drift + offset
        if totp.t() <= device.last_t and totp.token() == int(code):
            return True
    return False


def _wait_seconds(device) -> int:
    allowed, data = device.verify_is_allowed()
    if allowed:
        return 0
    until = (data or {}).get("locked_until")
    return max(1, math.ceil((until - timezone.now()).total_seconds())) if until else 1


def check_code(user, code: str) -> CodeCheck:
    """Check a TOTP code or an unused recovery code (which then works no more); a reused TOTP code and one typed
    while django-otp's own throttle holds are told apart from a wrong one, and nothing is consumed or slowed."""
    code = normalise_code(code)
    devices = list(devices_for_user(user, confirmed=True))
    if any(_already_used(device, code) for device in devices if isinstance(device, TOTPDevice)):
        return CodeCheck(False, reused=True)
    waits = [_wait_seconds(device) for device in devices]
    if devices and all(waits):
        return CodeCheck(False, wait_seconds=max(waits))
    for device in devices:
        if device.verify_token(code):
            return CodeCheck(True, device=device)
    return CodeCheck(False)


def verify(request, code: str) -> CodeCheck:
    """A TOTP code or an unused recovery code (a recovery code works once); logs the second factor in."""
    result = check_code(request.user, code)
    if result.ok:
        otp_login(request, result.device)
    return result


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
                from governance.audit import record_denied

                record_denied(request=request, reason="second factor required")
                message = "Your role needs a second factor: complete it in the browser first."
                return JsonResponse(error_body(403, message, request, detail=message, mfa=reverse(step)), status=403)
            return redirect(f"{reverse(step)}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
