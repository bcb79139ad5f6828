from django.apps import AppConfig
from django.db.models.signals import post_migrate


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self):
        # Django's authentication signals are its public hook for logins; they only call audit.record.
        from django.contrib.auth import signals

        from governance import audit

        signals.user_logged_in.connect(audit.on_logged_in, dispatch_uid="audit_login")
        signals.user_login_failed.connect(audit.on_login_failed, dispatch_uid="audit_login_failed")
        signals.user_logged_out.connect(audit.on_logged_out, dispatch_uid="audit_logout")

        from governance import model_audit

        model_audit.connect()

        from django.core import checks as django_checks

        from governance import checks

        django_checks.register(checks.fernet_keys, django_checks.Tags.security)

        # The role groups exist after every migrate, and again after a flush (which empties auth_group): the data
        # migrations create them once, this keeps them whatever happened to the tables since.
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="sync_roles")


def _sync_roles(sender, using="default", apps=None, **kwargs):
    from django.apps import apps as global_apps
    from django.db import router

    from governance.roles import sync_role_permissions

    if router.allow_migrate(using, "auth"):
        sync_role_permissions(apps or global_apps)
