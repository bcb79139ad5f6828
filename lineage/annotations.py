"""Write-side use cases of lineage ingestion, shared by the HTTP API, Celery tasks and management commands."""

from django.db import transaction

from governance import audit
from lineage.models import Annotation


def update_metadata(*, kind: str, namespace: str, name: str, changes: dict, user) -> tuple[Annotation, dict]:
    """Apply a steward's edit (already validated) to a node's annotation, with its audit record; returns the
    annotation and the diff recorded."""

    with transaction.atomic():
        annotation, _ = Annotation.objects.select_for_update().get_or_create(kind=kind, namespace=namespace, name=name)
        before = annotation.as_dict()
        for key, value in changes.items():
            setattr(annotation, key, value)
        annotation.updated_by = user if getattr(user, "pk", None) else None
        annotation.save()
        diff = audit.diff(before, annotation.as_dict())
        audit.record("metadata.updated", actor=user, target=(kind, f"{kind}:{namespace}:{name}", name), changes=diff)
    return annotation, diff
