from django.contrib.auth.backends import BaseBackend

from governance.roles import ADMIN


class RoleBackend(BaseBackend):
    """Members of the admin role may do everything, like superusers, without being superusers in the database."""

    def has_perm(self, user_obj, perm, obj=None) -> bool:
        if not user_obj.is_active or getattr(user_obj, "is_anonymous", True):
            return False
        if not hasattr(user_obj, "_is_admin_role"):
            user_obj._is_admin_role = user_obj.groups.filter(name=ADMIN).exists()
        return user_obj._is_admin_role

    def has_module_perms(self, user_obj, app_label) -> bool:
        return self.has_perm(user_obj, f"{app_label}.*")
