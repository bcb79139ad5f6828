from django.db.models import Count
from django.shortcuts import render

from governance.permissions import require_permission, visible_namespace_ids
from governance.roles import READ_LINEAGE

from .models import Dataset, Job, Namespace, RawEvent, Run


def _visible(queryset, visible, field="namespace_id"):
    return queryset if visible is None else queryset.filter(**{f"{field}__in": visible})


@require_permission(READ_LINEAGE)
def home(request):
    visible = visible_namespace_ids(request.user)
    namespaces = _visible(Namespace.objects.all(), visible, "pk").annotate(
        dataset_count=Count("datasets", distinct=True), job_count=Count("jobs", distinct=True)
    )
    context = {
        "namespaces": namespaces.order_by("name"),
        "counts": {
            "datasets": _visible(Dataset.objects, visible).count(),
            "jobs": _visible(Job.objects, visible).count(),
            "runs": _visible(Run.objects, visible, "job__namespace_id").count(),
            "events": RawEvent.objects.count() if visible is None else None,
        },
        "recent_runs": _visible(Run.objects, visible, "job__namespace_id")
        .select_related("job", "job__namespace")
        .order_by("-updated_at")[:20],
    }
    return render(request, "lineage/home.html", context)
