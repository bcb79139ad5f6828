"""The lineage store.

`RawEvent` is the source of truth: every accepted OpenLineage event, verbatim and append-only. Everything
else in this module is derived from raw events by `lineage.derive.store` and can be rebuilt from them
(`manage.py lineage_rebuild`); nothing a person types is kept in a derived table.

Derived rows merge events order-independently: each facet keeps the value of the event with the greatest
stamp (event time, then event hash), times are minima or maxima, edges are unions. Events may therefore
arrive late, twice or shuffled and the tables end the same.
"""

from django.db import models
from django.utils import timezone

from governance.models import NAME_MAX, Namespace


class RunState(models.TextChoices):
    NEW = "NEW"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    ABORTED = "ABORTED"


class Direction(models.TextChoices):
    INPUT = "in", "input"
    OUTPUT = "out", "output"


class RawEvent(models.Model):
    """An accepted OpenLineage event as it arrived. Never updated; deleted only by retention."""

    class Kind(models.TextChoices):
        RUN = "run"
        DATASET = "dataset"
        JOB = "job"

    event_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the canonical JSON.")
    body = models.TextField(help_text="The event's JSON text as received.")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    event_type = models.CharField(max_length=16, blank=True)
    event_time = models.DateTimeField(db_index=True)
    run_id = models.CharField(max_length=255, blank=True, db_index=True)
    job_namespace = models.CharField(max_length=NAME_MAX, blank=True)
    job_name = models.CharField(max_length=NAME_MAX, blank=True)
    producer = models.CharField(max_length=NAME_MAX, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    token = models.ForeignKey("governance.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source = models.CharField(max_length=16, help_text="api, batch, cli, demo or replay")
    warnings = models.JSONField(default=list, blank=True)
    # The namespaces whose metadata the event may change: those of the namespace-limited token that sent it, as
    # they stood when it was accepted; null for all (an unlimited token, an operator's lineage_load, the demo).
    # On the row, so that derivation and every rebuild apply the same rule whatever later becomes of the token.
    namespaces_allowed = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["job_namespace", "job_name"], name="rawevent_job")]

    def __str__(self) -> str:
        what = self.event_type or self.kind
        return f"{what} {self.job_namespace}/{self.job_name} @ {self.event_time:%Y-%m-%d %H:%M:%S}"


class DeriveQueue(models.Model):
    """Raw events waiting to be derived. The queue lives in the database so any worker can take any event."""

    raw_event = models.OneToOneField(RawEvent, primary_key=True, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"pending {self.raw_event_id}"


class QuarantinedEvent(models.Model):
    """An event that was refused, kept so an admin can inspect it and replay it."""

    class Status(models.TextChoices):
        PENDING = "pending"
        REPLAYED = "replayed"
        DISCARDED = "discarded"

    body = models.TextField()
    errors = models.JSONField(default=list)
    reason = models.CharField(max_length=255)
    token = models.ForeignKey("governance.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source = models.CharField(max_length=16)
    # The token's namespaces when the event was refused (null: no limit), as on RawEvent: a replay applies
    # them whatever became of the token since (deleted, widened).
    namespaces_allowed = models.JSONField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    replayed_at = models.DateTimeField(null=True, blank=True)
    raw_event = models.ForeignKey(RawEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-received_at"]
        verbose_name = "quarantined event"
        permissions = [("replay_quarantinedevent", "Can replay quarantined events")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.reason}"


class FacetedNode(models.Model):
    """Facets merged from events: `facets[key]` is the value of the event with the greatest `facet_stamps[key]`."""

    facets = models.JSONField(default=dict)
    facet_stamps = models.JSONField(default=dict)
    created_at = models.DateTimeField(help_text="Time of the earliest event that mentioned it.")
    updated_at = models.DateTimeField(help_text="Time of the latest event that mentioned it.")

    class Meta:
        abstract = True


class Dataset(FacetedNode):
    namespace = models.ForeignKey(Namespace, on_delete=models.PROTECT, related_name="datasets")
    name = models.CharField(max_length=NAME_MAX)
    # Read from the merged facets, kept as columns to list and search them.
    description = models.TextField(blank=True)
    dataset_type = models.CharField(max_length=32, default="DB_TABLE")
    source_name = models.CharField(max_length=NAME_MAX, blank=True)
    source_uri = models.CharField(max_length=NAME_MAX, blank=True)
    fields = models.JSONField(default=list)
    owners = models.JSONField(default=list)
    tags = models.JSONField(default=list)
    symlinks = models.JSONField(default=list)
    lifecycle_state = models.CharField(max_length=32, blank=True)
    is_deleted = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "name"], name="dataset_identity")]
        indexes = [models.Index(fields=["name"], name="dataset_name")]

    def __str__(self) -> str:
        return f"{self.namespace.name}:{self.name}"


class DatasetField(models.Model):
    """A column of a dataset's current schema (nested fields as dotted names), for search and column pages."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="schema_fields")
    name = models.CharField(max_length=NAME_MAX)
    type = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["dataset", "position"]
        constraints = [models.UniqueConstraint(fields=["dataset", "name"], name="dataset_field_identity")]

    def __str__(self) -> str:
        return self.name


class DatasetVersion(FacetedNode):
    """What a run wrote (one version per dataset and run), or what a DatasetEvent declared."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    version = models.UUIDField()
    run = models.ForeignKey("Run", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    fields = models.JSONField(default=list)
    lifecycle_state = models.CharField(max_length=32, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset", "version"], name="dataset_version_identity")]
        indexes = [models.Index(fields=["dataset", "created_at"], name="dataset_version_time")]

    def __str__(self) -> str:
        return f"{self.dataset_id}@{self.version}"


class Job(FacetedNode):
    namespace = models.ForeignKey(Namespace, on_delete=models.PROTECT, related_name="jobs")
    name = models.CharField(max_length=NAME_MAX)
    job_type = models.CharField(max_length=64, blank=True, help_text="jobType facet: DAG, TASK, QUERY, JOB ...")
    integration = models.CharField(max_length=64, blank=True)
    processing_type = models.CharField(max_length=16, blank=True)
    description = models.TextField(blank=True)
    sql = models.TextField(blank=True)
    source_code_location = models.CharField(max_length=NAME_MAX, blank=True)
    owners = models.JSONField(default=list)
    tags = models.JSONField(default=list)
    # The job of the run named by the `parent` run facet (an Airflow task's DAG, a query's task).
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    parent_stamp = models.CharField(max_length=120, blank=True)
    # The Airflow DAG (or other top-level job) the job is grouped under: its nearest ancestor-or-self of type
    # DAG, else its top ancestor. Null for a job that has no parent and is not a DAG.
    dag = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="dag_members")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "name"], name="job_identity")]
        indexes = [
            models.Index(fields=["name"], name="job_name"),
            # Job listings are most recently updated first (as Marquez's), within a namespace or across all.
            models.Index(fields=["namespace", "updated_at", "id"], name="job_namespace_updated"),
            models.Index(fields=["updated_at", "id"], name="job_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.namespace.name}:{self.name}"


class JobVersion(models.Model):
    """A distinct shape of a job (its source location and the datasets its runs read and wrote), as Marquez."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="versions")
    version = models.UUIDField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    inputs = models.JSONField(default=list)
    outputs = models.JSONField(default=list)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "version"], name="job_version_identity")]

    def __str__(self) -> str:
        return f"{self.job_id}@{self.version}"


class Run(FacetedNode):
    run_id = models.CharField(max_length=255, unique=True)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs")
    # A run id reused by another job (a producer bug) belongs to the job of its latest event.
    job_stamp = models.CharField(max_length=120, blank=True)
    # The namespaces of the jobs of every event naming the run (lineage.derive.fold: a limited event changes the
    # run only if its token allows them all); empty job_stamp: no event contributes, only claims.
    job_namespaces = models.JSONField(default=list, blank=True)
    state = models.CharField(max_length=16, choices=RunState.choices, default=RunState.NEW)
    # "<rank>|<stamp>": the event that set the state. A terminal state (rank 2) beats START/RUNNING (rank 1);
    # within a rank the later event wins.
    state_key = models.CharField(max_length=128, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    nominal_start_time = models.DateTimeField(null=True, blank=True)
    nominal_end_time = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    parent_run_id = models.CharField(max_length=255, blank=True, db_index=True)
    job_version = models.ForeignKey(JobVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")

    class Meta:
        indexes = [
            models.Index(fields=["job", "created_at"], name="run_job_time"),
            # The latest completed run of a job (as of a time), for view=latest.
            models.Index(fields=["job", "state", "ended_at"], name="run_job_state_end"),
        ]

    def __str__(self) -> str:
        return self.run_id

    @property
    def duration_ms(self) -> int | None:
        if self.started_at and self.ended_at:
            return int((self.ended_at - self.started_at).total_seconds() * 1000)
        return None


class RunDataset(models.Model):
    """A dataset a run read or wrote, with the input/output facets (statistics) of that use."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="io")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="run_io")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    created_at = models.DateTimeField()
    facets = models.JSONField(default=dict)
    facet_stamps = models.JSONField(default=dict)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "dataset", "direction"], name="run_dataset_identity")]
        indexes = [models.Index(fields=["dataset", "direction"], name="run_dataset_by_dataset")]

    def __str__(self) -> str:
        return f"{self.run_id} {self.direction} {self.dataset_id}"


class JobEdge(models.Model):
    """Job -> dataset (output) or dataset -> job (input), over all runs and static JobEvents.

    The traversal's edge table: one row per (job, dataset, direction), whatever the number of runs.
    """

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="edges")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="job_edges")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "dataset", "direction"], name="job_edge_identity")]
        # Both steps of the lineage walk are index-only scans on PostgreSQL (first_seen for asOf).
        indexes = [
            models.Index(fields=["dataset", "direction", "job"], name="job_edge_by_dataset", include=["first_seen"]),
            models.Index(fields=["job", "direction", "dataset"], name="job_edge_by_job", include=["first_seen"]),
        ]

    def __str__(self) -> str:
        return f"{self.job_id} {self.direction} {self.dataset_id}"


class ColumnLineage(models.Model):
    """Output field <- input field, from `columnLineage` facets. An empty output field is a dependency of the
    whole output dataset (the facet's `dataset` list: filters, joins, grouping)."""

    output_dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="column_lineage_in")
    output_field = models.CharField(max_length=NAME_MAX, blank=True)
    input_dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="column_lineage_out")
    input_field = models.CharField(max_length=NAME_MAX)
    transformations = models.JSONField(default=list)
    stamp = models.CharField(max_length=120)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["output_dataset", "output_field", "input_dataset", "input_field"],
                name="column_lineage_identity",
            )
        ]
        indexes = [models.Index(fields=["input_dataset", "input_field"], name="column_lineage_by_input")]

    def __str__(self) -> str:
        return f"{self.input_dataset_id}.{self.input_field} -> {self.output_dataset_id}.{self.output_field}"


class LineageReport(models.Model):
    """The whole-graph report, cached: recomputed only when the graph's fingerprint changes."""

    scope = models.CharField(max_length=64, unique=True, help_text="'all', or a digest of the visible namespaces.")
    fingerprint = models.CharField(max_length=200)
    computed_at = models.DateTimeField()
    seconds = models.FloatField(help_text="How long the computation took.")
    data = models.JSONField()

    def __str__(self) -> str:
        return f"report {self.scope} @ {self.computed_at:%Y-%m-%d %H:%M}"


class Annotation(models.Model):
    """What stewards say about a dataset or job: description, tags, owners, classifications, per-field notes.

    Keyed by the node's natural identity, not a foreign key, so it survives `lineage_rebuild` and can be written
    before the node's first event arrives. Shown on top of what the facets say.
    """

    class Kind(models.TextChoices):
        DATASET = "dataset"
        JOB = "job"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    namespace = models.CharField(max_length=NAME_MAX)
    name = models.CharField(max_length=NAME_MAX)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    owners = models.JSONField(default=list, blank=True)
    classifications = models.JSONField(default=list, blank=True)
    # {field name: {"description": str, "tags": [str], "classifications": [str]}}
    fields = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "namespace", "name"], name="annotation_identity")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.namespace}:{self.name}"

    def as_dict(self) -> dict:
        return {
            "description": self.description,
            "tags": self.tags,
            "owners": self.owners,
            "classifications": self.classifications,
            "fields": self.fields,
        }
