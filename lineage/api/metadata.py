"""GET/PATCH /api/v1/metadata?nodeId=: what stewards say about a dataset or job."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from governance.api.params import BadParameter
from governance.openapi import READ_ERRORS, errors, typed
from governance.permissions import can
from governance.roles import EDIT_METADATA, READ_LINEAGE
from governance.times import iso
from lineage import annotations
from lineage.api.lineage import NODE_PARAMETERS, ReadView, _node
from lineage.models import Annotation


def tag_list():
    return serializers.ListField(child=serializers.CharField(max_length=100), required=False)


class OwnerInput(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    type = serializers.CharField(max_length=50, required=False, allow_blank=True)


class FieldInput(serializers.Serializer):
    description = serializers.CharField(required=False, allow_blank=True)
    tags = tag_list()
    classifications = tag_list()


class MetadataInput(serializers.Serializer):
    description = serializers.CharField(required=False, allow_blank=True)
    tags = tag_list()
    owners = OwnerInput(many=True, required=False)
    classifications = tag_list()
    fields = serializers.DictField(child=FieldInput(), required=False)


def annotation_json(annotation: Annotation | None) -> dict:
    if annotation is None:
        return {
            "description": "",
            "tags": [],
            "owners": [],
            "classifications": [],
            "fields": {},
            "updatedAt": None,
            "updatedBy": None,
        }
    return {
        **annotation.as_dict(),
        "updatedAt": iso(annotation.updated_at),
        "updatedBy": annotation.updated_by.get_username() if annotation.updated_by else None,
    }


class MetadataView(ReadView):
    endpoint = "metadata"
    required_permissions = {"GET": [READ_LINEAGE], "PATCH": [EDIT_METADATA]}

    def _ref(self, request):
        ref = _node(request)
        if ref.kind == "datasetField":
            raise BadParameter("nodeId", "annotate the dataset; fields are edited under `fields`")
        return ref

    @extend_schema(
        operation_id="getMetadata",
        summary="What stewards say about a dataset or job",
        parameters=NODE_PARAMETERS,
        responses={200: typed("Metadata"), **errors(*READ_ERRORS, 404, e404="Unknown node.")},
        tags=["Metadata"],
    )
    def get(self, request):
        ref = self._ref(request)
        annotation = (
            Annotation.objects.filter(kind=ref.kind, namespace=ref.node.namespace.name, name=ref.node.name)
            .select_related("updated_by")
            .first()
        )
        return Response({"node": ref.node_id, **annotation_json(annotation)})

    @extend_schema(
        operation_id="updateMetadata",
        summary="Edit description, tags, owners, classifications, fields",
        parameters=NODE_PARAMETERS,
        request=MetadataInput,
        responses={
            200: typed("Metadata", "The annotation after the edit."),
            **errors(400, 401, 403, 404, e403="Not a steward, or not in your namespaces.", e404="Unknown node."),
        },
        tags=["Metadata"],
    )
    def patch(self, request):
        ref = self._ref(request)
        if not can(request.user, EDIT_METADATA, ref.node.namespace):
            self.permission_denied(request, message="You may not edit metadata in this namespace.")
        data = MetadataInput(data=request.data)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        if "owners" in changes:
            changes["owners"] = [dict(owner) for owner in changes["owners"]]
        if "fields" in changes:
            changes["fields"] = {name: dict(spec) for name, spec in changes["fields"].items()}
        annotation, _diff = annotations.update_metadata(
            kind=ref.kind, namespace=ref.node.namespace.name, name=ref.node.name, changes=changes, user=request.user
        )
        return Response({"node": ref.node_id, **annotation_json(annotation)})
