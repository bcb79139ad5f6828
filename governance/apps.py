from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self):
        # Django's authentication signals are its public hook for logins; they only call audit.record.
        from django.contrib.auth import signals

        from . import audit

        signals.user_logged_in.connect(audit.on_logged_in, dispatch_uid="audit_login")
        signals.user_login_failed.connect(audit.on_login_failed, dispatch_uid="audit_login_failed")
        signals.user_logged_out.connect(audit.on_logged_out, dispatch_uid="audit_logout")

        from . import model_audit

        model_audit.connect()
