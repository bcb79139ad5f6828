"""What a reader may see: the namespaces, and the querysets filtered by them."""

from django.db.models import QuerySet

from governance.models import Namespace
from lineage.models import Dataset, Job, RawEvent, Run

_UNSET = object()


def visible_namespace_ids(user) -> set[int] | None:
    """Ids of the namespaces `user` may read, or None for all of them.

    Every read query filters through this, so per-namespace grants apply everywhere at once. Worked out once per
    user object, that is once per request (a page filters a dozen queries by it, and each computation costs
    several queries: roles, then per-namespace grants), as Django caches a user's permissions.
    """
    cached = getattr(user, "_tributary_visible_namespaces", _UNSET)
    if cached is _UNSET:
        from governance.permissions import visible_namespace_ids as visible

        cached = visible(user)
        user._tributary_visible_namespaces = cached
    return cached


def filter_visible(queryset: QuerySet, user, namespace_field: str) -> QuerySet:
    """`queryset` narrowed to rows whose `namespace_field` (a namespace id) `user` may read."""
    ids = visible_namespace_ids(user)
    return queryset if ids is None else queryset.filter(**{f"{namespace_field}__in": ids})


def visible_namespaces(user) -> QuerySet[Namespace]:
    return filter_visible(Namespace.objects.all(), user, "id")


def visible_datasets(user) -> QuerySet[Dataset]:
    return filter_visible(Dataset.objects.all(), user, "namespace_id")


def visible_jobs(user) -> QuerySet[Job]:
    return filter_visible(Job.objects.all(), user, "namespace_id")


def visible_runs(user) -> QuerySet[Run]:
    return filter_visible(Run.objects.all(), user, "job__namespace_id")


def visible_raw_events(user) -> QuerySet[RawEvent]:
    """Raw events of the namespaces `user` may read: the job's namespace, or the dataset's for a DatasetEvent."""
    ids = visible_namespace_ids(user)
    events = RawEvent.objects.all()
    if ids is None:
        return events
    return events.filter(job_namespace__in=Namespace.objects.filter(id__in=ids).values("name"))
