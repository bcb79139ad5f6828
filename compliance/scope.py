"""Whose view a compliance answer is: a user narrowed by namespace grants sees the objects of their namespaces
only. Counts stay exact (a rate must not depend on who asks); lists name only what the user may see, and say how
many items they leave out."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

ALL_NAMESPACES = "all namespaces"


@dataclass(frozen=True)
class View:
    namespaces: frozenset[str] | None = None  # None: every namespace
    connections: frozenset[int] | None = None  # ids of the connections in view; None: all

    @property
    def everything(self) -> bool:
        return self.namespaces is None

    @property
    def label(self) -> str | list[str]:
        return ALL_NAMESPACES if self.namespaces is None else sorted(self.namespaces)

    def sees_namespaces(self, names: Iterable[str]) -> bool:
        return self.namespaces is None or set(names) <= self.namespaces

    def sees_connection(self, pk) -> bool:
        if self.connections is None:
            return True
        try:
            return int(pk) in self.connections
        except (TypeError, ValueError):
            return False

    def sees_violation(self, item: dict[str, Any]) -> bool:
        if self.everything:
            return True
        if "connection" in item:
            return self.sees_connection(item["connection"])
        if "namespaces" in item:
            return self.sees_namespaces(item["namespaces"])
        # Results stored before violations carried their namespaces: datasets and jobs stay hidden.
        return item.get("type") not in ("dataset", "job", "connection")

    def violations(self, items: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
        """(the violations in view, how many of the listed ones are not)."""
        shown, hidden = [], 0
        for item in items:
            if self.sees_violation(item):
                shown.append(item)
            else:
                hidden += 1
        return shown, hidden

    def parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """A rule's parameters as this view may read them: namespace lists (`allowed_namespaces`...) keep only
        the namespaces in view, and `<key>Hidden` says how many they leave out."""
        if self.everything:
            return parameters
        shown = {}
        for key, value in parameters.items():
            if key.endswith("namespaces") and isinstance(value, list):
                visible = [name for name in value if name in self.namespaces]
                shown[key] = visible
                if len(visible) < len(value):
                    shown[f"{key}Hidden"] = len(value) - len(visible)
            else:
                shown[key] = value
        return shown

    def sees_audit_record(self, namespaces: Iterable[str]) -> bool:
        """The audit trail's own rule (`AuditRecord.objects.within_namespaces`): a narrowed user reads a record
        whose objects all lie in their namespaces; a record about no namespace (logins, users, roles, tokens of
        every namespace) is about everyone, so only the unnarrowed read it."""
        names = set(namespaces or ())
        return self.everything or (bool(names) and names <= self.namespaces)


EVERYTHING = View()


def view_of(user) -> View:
    """The user's view: every namespace for a global role, else the namespaces they are granted (and the
    connections serving them, as the connections page shows them)."""
    from governance.connections import visible_connections
    from governance.models import Namespace
    from governance.permissions import visible_namespace_ids

    if user is None or not getattr(user, "is_authenticated", False):
        return EVERYTHING  # a management command or the scheduler: the whole estate
    visible = visible_namespace_ids(user)
    if visible is None:
        return EVERYTHING
    names = frozenset(Namespace.objects.filter(pk__in=visible).values_list("name", flat=True))
    return View(namespaces=names, connections=frozenset(visible_connections(user).values_list("pk", flat=True)))
