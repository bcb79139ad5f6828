"""Changes to users, roles and namespace grants made outside Tributary's services (Django admin's user, group and
object-permission screens, the shell) reach the audit trail through Django's model signals: the one hook all of
those paths pass through. The signal handlers run inside the change's transaction, so record and change commit
together."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from guardian.models import GroupObjectPermission, UserObjectPermission

from governance import audit

USER_FIELDS = ("username", "email", "first_name", "last_name", "is_active", "is_staff", "is_superuser", "password")


def _user_fields(user) -> dict:
    return {field: getattr(user, field) for field in USER_FIELDS}


def user_before_save(sender, instance, **kwargs) -> None:
    if instance.pk:
        old = sender._default_manager.filter(pk=instance.pk).first()
        instance._audit_before = _user_fields(old) if old else {}


def user_saved(sender, instance, created, **kwargs) -> None:
    before = {} if created else getattr(instance, "_audit_before", {})
    changes = audit.diff(before, _user_fields(instance), secret_fields=["password"])
    if created:
        audit.record("user.created", target=instance, changes=changes)
    elif changes:  # logins update last_login only: not a change of the account
        audit.record("user.updated", target=instance, changes=changes)


def user_deleted(sender, instance, **kwargs) -> None:
    audit.record("user.deleted", target=instance)


def groups_changed(sender, instance, action, pk_set, reverse, **kwargs) -> None:
    if action == "pre_clear":
        instance._audit_cleared = list(
            instance.groups.values_list("pk", flat=True)
            if not reverse
            else instance.user_set.values_list("pk", flat=True)
        )
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    verb = "role.granted" if action == "post_add" else "role.revoked"
    ids = pk_set if action != "post_clear" else set(getattr(instance, "_audit_cleared", []))
    if not reverse:  # user.groups.add(group...)
        for group in Group.objects.filter(pk__in=ids):
            audit.record(verb, target=instance, detail={"role": group.name})
    else:  # group.user_set.add(user...)
        for user in get_user_model().objects.filter(pk__in=ids):
            audit.record(verb, target=user, detail={"role": instance.name})


def group_permissions_changed(sender, instance, action, pk_set, reverse, **kwargs) -> None:
    if action in ("post_add", "post_remove", "post_clear") and not reverse:
        audit.record(
            "role.permissions_changed",
            target=instance,
            detail={"action": action.removeprefix("post_"), "permission_ids": sorted(pk_set or [])},
        )


def _grant(instance, action: str) -> None:
    grantee = instance.user if isinstance(instance, UserObjectPermission) else instance.group
    label = grantee.get_username() if hasattr(grantee, "get_username") else f"group:{grantee.name}"
    obj = instance.content_object
    audit.record(
        action,
        target=(instance.content_type.model, instance.object_pk, str(obj) if obj is not None else instance.object_pk),
        detail={"grantee": label, "permission": instance.permission.codename},
    )


def grant_saved(sender, instance, created, **kwargs) -> None:
    if created:
        _grant(instance, "grant.added")


def grant_deleted(sender, instance, **kwargs) -> None:
    _grant(instance, "grant.removed")


def connect() -> None:
    User = get_user_model()
    pre_save.connect(user_before_save, sender=User, dispatch_uid="audit_user_before")
    post_save.connect(user_saved, sender=User, dispatch_uid="audit_user_saved")
    post_delete.connect(user_deleted, sender=User, dispatch_uid="audit_user_deleted")
    m2m_changed.connect(groups_changed, sender=User.groups.through, dispatch_uid="audit_user_groups")
    m2m_changed.connect(group_permissions_changed, sender=Group.permissions.through, dispatch_uid="audit_group_perms")
    for model in (UserObjectPermission, GroupObjectPermission):
        post_save.connect(grant_saved, sender=model, dispatch_uid=f"audit_grant_saved_{model.__name__}")
        post_delete.connect(grant_deleted, sender=model, dispatch_uid=f"audit_grant_deleted_{model.__name__}")
