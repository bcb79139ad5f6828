"""Where governance events meet the audit trail. Until the audit trail lands these only log."""

import logging

log = logging.getLogger("governance.audit")


def session_expired(request, *, user, reason: str) -> None:
    log.info("session expired", extra={"user": user.get_username(), "reason": reason})


def mfa_failed(request, *, user) -> None:
    log.info("mfa failed", extra={"user": user.get_username()})


def mfa_enrolled(request, *, user) -> None:
    log.info("mfa enrolled", extra={"user": user.get_username()})


def access_denied(request, *, permission: str, reason: str) -> None:
    log.info("access denied", extra={"permission": permission, "reason": reason, "path": request.path})


def record(
    action: str, *, actor=None, target=None, outcome: str = "success", changes=None, request=None, detail=None
) -> None:
    """Stands in for governance.audit.record (same signature) until the audit trail is merged."""
    log.info(
        action,
        extra={
            "actor": getattr(actor, "username", None),
            "target": str(target) if target is not None else None,
            "outcome": outcome,
            "changes": changes,
            "detail": detail,
        },
    )
