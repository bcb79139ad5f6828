"""The six roles and what each may do.

Roles are Django groups. This table is the single statement of their rights; data migrations apply it
(`sync_role_permissions`), so a migration that adds a permission also grants it to the roles listed here.
A user with a role acts in every namespace unless per-namespace grants narrow them (see governance.permissions).
"""

VIEWER, STEWARD, OPERATOR, DEVELOPER, AUDITOR, ADMIN = "viewer", "steward", "operator", "developer", "auditor", "admin"
ROLES = (VIEWER, STEWARD, OPERATOR, DEVELOPER, AUDITOR, ADMIN)

# Capabilities, as "app_label.codename" of Django permissions.
READ_LINEAGE = "governance.view_lineage"
EDIT_METADATA = "governance.edit_metadata"
VIEW_QUARANTINE = "lineage.view_quarantinedevent"
REPLAY_QUARANTINE = "lineage.replay_quarantinedevent"
VIEW_TOKENS = "governance.view_apitoken"
ADD_TOKENS = "governance.add_apitoken"
REVOKE_TOKENS = "governance.change_apitoken"
GRANT_GOVERNANCE_READ = "governance.grant_governance_read"  # admins only, unless given to a person on purpose
VIEW_AUDIT = "governance.view_auditrecord"
VIEW_CONNECTIONS = "governance.view_connection"
USE_CONNECTIONS = "governance.use_connection"
ADD_CONNECTIONS = "governance.add_connection"
CHANGE_CONNECTIONS = "governance.change_connection"
DELETE_CONNECTIONS = "governance.delete_connection"
VIEW_COMPLIANCE = "compliance.view_compliancereport"

_viewer = {READ_LINEAGE}
_steward = _viewer | {EDIT_METADATA}
_operator = _steward | {VIEW_QUARANTINE, REPLAY_QUARANTINE, VIEW_CONNECTIONS, USE_CONNECTIONS}
_developer = _operator | {
    ADD_CONNECTIONS,
    CHANGE_CONNECTIONS,
    DELETE_CONNECTIONS,
    VIEW_TOKENS,
    ADD_TOKENS,
    REVOKE_TOKENS,
}
_auditor = {READ_LINEAGE, VIEW_AUDIT, VIEW_COMPLIANCE, VIEW_CONNECTIONS}

ROLE_PERMISSIONS: dict[str, set[str]] = {
    VIEWER: _viewer,
    STEWARD: _steward,
    OPERATOR: _operator,
    DEVELOPER: _developer,
    AUDITOR: _auditor,
    # Admins may do everything (governance.backends.RoleBackend); listed here for the record.
    ADMIN: _developer | _auditor | {GRANT_GOVERNANCE_READ},
}

# Roles that must use a second factor (setting TRIBUTARY_MFA_REQUIRED_ROLES overrides).
MFA_REQUIRED_ROLES = (DEVELOPER, AUDITOR, ADMIN)


def sync_role_permissions(apps, schema_editor=None) -> None:
    """Create the role groups and grant each exactly the permissions of ROLE_PERMISSIONS that exist so far.

    For data migrations: `migrations.RunPython(sync_role_permissions, migrations.RunPython.noop)`, placed after
    the migration that creates the permissions (Django creates them in post_migrate, so this creates any that
    are missing itself).
    """
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    for role, codes in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        permissions = []
        for code in sorted(codes):
            app_label, codename = code.split(".")
            permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if permission is None:
                permission = _create_permission(apps, ContentType, Permission, app_label, codename)
            if permission is not None:
                permissions.append(permission)
        group.permissions.set(permissions)


def _create_permission(apps, ContentType, Permission, app_label, codename):
    """Django creates permissions after all migrations ran; a data migration may need them before."""
    for model in apps.get_app_config(app_label).get_models() if app_label in apps.app_configs else []:
        meta = model._meta
        defaults = {f"{action}_{meta.model_name}" for action in meta.default_permissions}
        custom = dict(meta.permissions)
        if codename in defaults or codename in custom:
            content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=meta.model_name)
            name = custom.get(codename) or f"Can {codename.split('_', 1)[0]} {meta.verbose_name_raw}"
            return Permission.objects.get_or_create(
                content_type=content_type, codename=codename, defaults={"name": name}
            )[0]
    return None
