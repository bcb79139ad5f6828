"""The steward's pages. Views are thin: find the node the user may see (404 otherwise), ask a page selector,
render. Permissions come from `governance.permissions` (require_permission for the role, `can` for an action in
a namespace); what a page lists is filtered by `visible_namespace_ids` inside the selectors."""

from urllib.parse import quote

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from governance import connections
from governance.api.params import BadParameter
from governance.permissions import can, has_capability, require_permission
from governance.roles import EDIT_METADATA, READ_LINEAGE, VIEW_CONNECTIONS
from lineage import annotations
from lineage.forms import MetadataForm
from lineage.read import pages
from lineage.read.identity import NodeNotFound

EXPLORER_DEFAULTS = {"direction": "both", "depth": "6", "limit": "300", "group": "", "view": "graph"}
DIRECTIONS = (("upstream", "Upstream"), ("downstream", "Downstream"), ("both", "Both"))
# Nodes drawn at first and added by each "show more": enough to see the neighbourhood, few enough to stay
# interactive on a laptop (the API keeps the nearest ones).
GRAPH_STEP = 300


def _found(lookup, *args, **kwargs):
    """An unknown node, a malformed id and a node in a namespace the user may not read all answer 404."""
    try:
        return lookup(*args, **kwargs)
    except (NodeNotFound, BadParameter) as error:
        raise Http404(str(error)) from None


@require_permission(READ_LINEAGE)
def home(request):
    return render(request, "lineage/home.html", pages.home(user=request.user))


@require_permission(READ_LINEAGE)
def search(request):
    results = pages.search(user=request.user, q=request.GET.get("q", ""))
    # The search box asks for the results fragment as the user types; without JavaScript it submits the form.
    partial = request.headers.get("X-Requested-With") == "fetch"
    return render(request, "lineage/_search_results.html" if partial else "lineage/search.html", results)


@require_permission(READ_LINEAGE)
def dataset(request, path: str):
    node = _found(pages.node_for_path, user=request.user, kind="dataset", path=path)
    context = pages.dataset_page(user=request.user, dataset=node)
    context["can_edit"] = can(request.user, EDIT_METADATA, node.namespace)
    # The connection serving the dataset's namespace, for those who may see connections at all.
    context["connection"] = connections.for_namespace(request.user, node.namespace.name)
    context["may_see_connections"] = has_capability(request.user, VIEW_CONNECTIONS)
    return render(request, "lineage/dataset.html", context)


@require_permission(READ_LINEAGE)
def job(request, path: str):
    node = _found(pages.node_for_path, user=request.user, kind="job", path=path)
    context = pages.job_page(user=request.user, job=node)
    context["can_edit"] = can(request.user, EDIT_METADATA, node.namespace)
    return render(request, "lineage/job.html", context)


def _explorer_options(query) -> dict[str, str]:
    """The explorer's starting options from the URL; anything unexpected falls back to the default."""
    options = dict(EXPLORER_DEFAULTS)
    if query.get("direction") in {value for value, _ in DIRECTIONS}:
        options["direction"] = query["direction"]
    for key, top in (("depth", 100), ("limit", 5000)):
        if (query.get(key) or "").isdigit() and 1 <= int(query[key]) <= top:
            options[key] = query[key]
    if query.get("group") == "dag":
        options["group"] = "dag"
    if query.get("view") == "columns":
        options["view"] = "columns"
    return options


@require_permission(READ_LINEAGE)
def lineage_explorer(request):
    options = _explorer_options(request.GET)
    if not request.GET.get("nodeId"):
        return render(request, "lineage/explorer.html", {"ref": None, "options": options})
    ref = _found(pages.visible_node, user=request.user, node_id_text=request.GET["nodeId"])
    if ref.kind == "datasetField":
        options["view"] = "columns"
    context = {
        "ref": ref,
        "options": options,
        "directions": DIRECTIONS,
        "config": {
            "mode": "explore",
            "nodeId": ref.node_id,
            "kind": ref.kind,
            **options,
            "step": GRAPH_STEP,
            "earliest": ref.node.created_at.isoformat(),
            "now": timezone.now().isoformat(),
        },
        "page_url": pages.node_url(ref.kind, ref.node.namespace.name, ref.node.name),
        "impact_url": pages.impact_url(ref.kind, ref.node.namespace.name, ref.node.name),
        "earliest": ref.node.created_at,
    }
    return render(request, "lineage/explorer.html", context)


@require_permission(READ_LINEAGE)
def impact(request):
    ref = _found(pages.visible_node, user=request.user, node_id_text=request.GET.get("nodeId"))
    if ref.kind == "datasetField":
        raise Http404("impact starts from a dataset or a job")
    context = pages.impact_page(user=request.user, ref=ref)
    context["config"] = {
        "mode": "impact",
        "nodeId": ref.node_id,
        "kind": ref.kind,
        "direction": "downstream",
        "depth": "100",
        "limit": str(GRAPH_STEP),
        "group": "",
        "view": "graph",
        "step": GRAPH_STEP,
    }
    return render(request, "lineage/impact.html", context)


@require_permission(EDIT_METADATA)
@require_POST
def edit_metadata(request):
    """The form behind the inline editors (which use PATCH /api/v1/metadata when JavaScript runs)."""
    ref = _found(pages.visible_node, user=request.user, node_id_text=request.POST.get("node"))
    if ref.kind == "datasetField":
        raise Http404("annotate the dataset")
    if not can(request.user, EDIT_METADATA, ref.node.namespace):
        raise PermissionDenied
    form = MetadataForm(request.POST)
    if form.is_valid():
        annotations.update_metadata(
            kind=ref.kind,
            namespace=ref.node.namespace.name,
            name=ref.node.name,
            changes=form.changes(request.POST, fields=pages.annotation_fields(ref.kind, ref.node)),
            user=request.user,
        )
        messages.success(request, "Saved.")
    else:
        messages.error(request, "Not saved: " + " ".join(e for errors in form.errors.values() for e in errors))
    anchor = (
        f"#field-{quote(form.cleaned_data['field'], safe='')}" if form.is_valid() and form.cleaned_data["field"] else ""
    )
    return redirect(pages.node_url(ref.kind, ref.node.namespace.name, ref.node.name) + anchor)
