import base64

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from governance.roles import ROLES


def demo_password(role: str) -> str:
    return f"{role.capitalize()}-demo-pass1"


def refuse_in_production() -> None:
    if not (settings.DEBUG or settings.TRIBUTARY_EMBEDDED):
        raise CommandError(
            "refusing to touch demo users with published secrets: DEBUG is off and DATABASE_URL is set, "
            "which is how production runs. Use it on the embedded default or with DJANGO_DEBUG=1."
        )


class Command(BaseCommand):
    help = (
        "Create one demo user per role, named after the role, with a published password (e.g. viewer / "
        "Viewer-demo-pass1); users of roles that need two factors get an enrolled authenticator whose current "
        "code `manage.py demo_totp_code USER` prints. Running it again resets their passwords and roles. Refused "
        "outside development: it needs DJANGO_DEBUG=1 or the embedded database (no DATABASE_URL)."
    )

    def handle(self, *args, **options):
        refuse_in_production()
        groups = {group.name: group for group in Group.objects.filter(name__in=ROLES)}
        missing = [role for role in ROLES if role not in groups]
        if missing:
            raise CommandError(f"role groups missing ({', '.join(missing)}): run `manage.py migrate` first")

        User = get_user_model()
        created, reset = [], []
        with transaction.atomic():
            for role in ROLES:
                user, is_new = User.objects.get_or_create(
                    username=role, defaults={"email": f"{role}@demo.tributary.example"}
                )
                password = demo_password(role)
                try:
                    password_validation.validate_password(password, user)
                except ValidationError as error:
                    raise CommandError(f"demo password of {role!r} is refused: {' '.join(error.messages)}") from None
                user.set_password(password)
                user.is_active = True
                user.is_staff = user.is_superuser = role == "admin"
                user.save()
                user.groups.set([groups[role]])
                if role in settings.TRIBUTARY_MFA_REQUIRED_ROLES:
                    TOTPDevice.objects.filter(user=user).delete()
                    TOTPDevice.objects.create(user=user, name="Demo authenticator", confirmed=True)
                (created if is_new else reset).append(role)

        if created:
            self.stdout.write(f"Created demo users: {', '.join(created)}.")
        if reset:
            self.stdout.write(f"Reset the passwords and roles of existing demo users: {', '.join(reset)}.")
        self.stdout.write("\nDemo logins (development only, never in production):")
        self.stdout.write(f"  {'role':<10} {'username':<10} {'password':<20} second factor (TOTP key)")
        devices = {
            d.user.username: d for d in TOTPDevice.objects.filter(user__username__in=ROLES).select_related("user")
        }
        for role in ROLES:
            device = devices.get(role)
            key = base64.b32encode(device.bin_key).decode().rstrip("=") if device else "-"
            self.stdout.write(f"  {role:<10} {role:<10} {demo_password(role):<20} {key}")
        if devices:
            self.stdout.write(
                "Roles with a TOTP key need a code after the password: add the key to an authenticator app, or "
                "print the current code with `python manage.py demo_totp_code USER`."
            )
