"""Login (with the session policy), TOTP enrolment and verification pages."""

import base64
from io import BytesIO

import qrcode
import qrcode.image.svg
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe

from governance import audit, mfa, sessions


class LoginView(auth_views.LoginView):
    def form_valid(self, form):
        response = super().form_valid(form)
        sessions.start(self.request)
        return response


def _qr_svg(text: str) -> str:
    buffer = BytesIO()
    qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8).save(buffer)
    svg = buffer.getvalue().decode()
    return svg[svg.index("<svg") :]


@login_required
def mfa_setup(request):
    if mfa.has_device(request.user) and request.user.is_verified():
        return redirect(mfa.safe_next(request))
    if mfa.has_device(request.user):
        return redirect("mfa-verify")
    device = mfa.pending_totp(request.user)
    if request.method == "POST":
        codes = mfa.confirm_totp(request, device, request.POST.get("code", ""))
        if codes is not None:
            audit.record("auth.mfa_enrolled", actor=request.user, target=request.user, request=request)
            request.session["recovery_codes"] = codes
            return redirect(f"/account/mfa/recovery/?next={mfa.safe_next(request)}")
        audit.record(
            "auth.mfa_failed",
            actor=request.user,
            target=request.user,
            request=request,
            outcome="failure",
            detail={"method": "totp"},
        )
        messages.error(request, "That code did not match. Check the time on your phone and try the next code.")
    return render(
        request,
        "account/mfa_setup.html",
        {
            # The QR code is SVG we generate from the device's own otpauth:// URL.
            "qr": mark_safe(_qr_svg(device.config_url)),
            "secret": base64.b32encode(device.bin_key).decode().rstrip("="),
            "next": mfa.safe_next(request),
            "required": mfa.mfa_required(request.user),
        },
    )


@login_required
def mfa_verify(request):
    if not mfa.has_device(request.user):
        return redirect("mfa-setup")
    if request.method == "POST":
        result = mfa.verify(request, request.POST.get("code", ""))
        if result.ok:
            return redirect(mfa.safe_next(request))
        if result.reused or result.wait_seconds:
            # Not a wrong code: the right one, too soon.
            messages.error(request, result.problem[:1].upper() + result.problem[1:] + ".")
            return render(request, "account/mfa_verify.html", {"next": mfa.safe_next(request)})
        audit.record(
            "auth.mfa_failed",
            actor=request.user,
            target=request.user,
            request=request,
            outcome="failure",
            detail={"method": "totp"},
        )
        messages.error(request, "That code did not match.")
    return render(request, "account/mfa_verify.html", {"next": mfa.safe_next(request)})


@login_required
def mfa_recovery(request):
    codes = request.session.pop("recovery_codes", None)
    if codes is None:
        return redirect(mfa.safe_next(request))
    return render(request, "account/mfa_recovery.html", {"codes": codes, "next": mfa.safe_next(request)})
