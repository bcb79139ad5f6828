from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.shortcuts import render

from .models import Dataset, Job, Namespace, RawEvent, Run


@login_required
def home(request):
    namespaces = Namespace.objects.annotate(
        dataset_count=Count("datasets", distinct=True), job_count=Count("jobs", distinct=True)
    ).order_by("name")
    context = {
        "namespaces": namespaces,
        "counts": {
            "datasets": Dataset.objects.count(),
            "jobs": Job.objects.count(),
            "runs": Run.objects.count(),
            "events": RawEvent.objects.count(),
        },
        "recent_runs": Run.objects.select_related("job", "job__namespace").order_by("-updated_at")[:20],
    }
    return render(request, "lineage/home.html", context)
