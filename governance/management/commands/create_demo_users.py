from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

# The role groups seeded by migration governance/0002_roles, in order of growing rights (auditor aside).
ROLES = ("viewer", "steward", "operator", "developer", "auditor", "admin")


def demo_password(role: str) -> str:
    return f"{role}-demo-pass"


class Command(BaseCommand):
    help = (
        "Create one demo user per role, named after the role, with a published password (e.g. viewer / "
        "viewer-demo-pass). Running it again resets their passwords and roles. Refused outside development: "
        "it needs DJANGO_DEBUG=1 or the embedded database (no DATABASE_URL)."
    )

    def handle(self, *args, **options):
        if not (settings.DEBUG or settings.TRIBUTARY_EMBEDDED):
            raise CommandError(
                "refusing to create demo users with published passwords: DEBUG is off and DATABASE_URL is set, "
                "which is how production runs. Use it on the embedded default or with DJANGO_DEBUG=1."
            )
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
                (created if is_new else reset).append(role)

        if created:
            self.stdout.write(f"Created demo users: {', '.join(created)}.")
        if reset:
            self.stdout.write(f"Reset the passwords and roles of existing demo users: {', '.join(reset)}.")
        self.stdout.write("\nDemo logins (development only, never in production):")
        self.stdout.write(f"  {'role':<10} {'username':<10} password")
        for role in ROLES:
            self.stdout.write(f"  {role:<10} {role:<10} {demo_password(role)}")
