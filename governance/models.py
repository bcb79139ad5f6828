from django.conf import settings
from django.db import connection, models
from django.utils import timezone

# The longest name (of a namespace, dataset, job or field) the store keeps.
NAME_MAX = 1024


class Namespace(models.Model):
    """An OpenLineage namespace: the unit that per-namespace grants are given on.

    It lives in governance, below the lineage app, because who may read or change what is decided here (roles,
    grants, tokens, connections and audit records are all scoped by namespace); the lineage graph's datasets and
    jobs point to it. Its table keeps the name it had when it was part of the lineage app.
    """

    name = models.CharField(max_length=NAME_MAX, unique=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    description = models.TextField(blank=True)

    class Meta:
        db_table = "lineage_namespace"
        ordering = ["name"]
        permissions = [
            ("view_lineage", "Can read lineage"),
            ("edit_metadata", "Can edit dataset and job metadata, tags, owners and classifications"),
            # Granted per namespace object (django-guardian): a user or group with any such grant is narrowed to
            # the namespaces granted; without any, their role applies everywhere.
            ("access_namespace", "Is within the namespaces the user may act in"),
        ]

    def __str__(self) -> str:
        return self.name


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A bearer token for machines: Airflow's OpenLineage transport (ingest) or scripts (read).

    Only the SHA-256 digest of the secret is stored: tokens are 240 random bits, so a slow password hash
    would add latency to every request and no protection.
    """

    class Scope(models.TextChoices):
        INGEST = "ingest", "Write lineage"
        READ = "read", "Read lineage"
        # Granted on purpose (governance.roles.GRANT_GOVERNANCE_READ): the owner's reads of governance data too.
        GOVERNANCE_READ = "governance-read", "Read lineage and governance data (audit, compliance, connections)"

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The first characters of the token, to recognise it.")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    scope = models.CharField(max_length=20, choices=Scope.choices)
    namespaces = models.JSONField(
        default=list, blank=True, help_text="Namespaces the token may touch; empty means all."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="api_tokens"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [("grant_governance_read", "Can make governance-read tokens, which read governance data")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…, {self.scope})"

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class Connection(models.Model):
    """Credentials of a database, bucket or service that pipelines touch, as Airflow keeps them.

    `password` and `extra` are stored only encrypted (governance.crypto), never serialised by dumpdata, and
    readable in clear only through `governance.connections.connection_reveal`.
    """

    class Type(models.TextChoices):
        POSTGRES = "postgres", "PostgreSQL"
        MYSQL = "mysql", "MySQL"
        SNOWFLAKE = "snowflake", "Snowflake"
        BIGQUERY = "google_cloud_platform", "BigQuery / Google Cloud"
        S3 = "aws", "Amazon S3 / AWS"
        HTTP = "http", "HTTP"
        SFTP = "sftp", "SFTP"
        GENERIC = "generic", "Generic"

    slug = models.SlugField(max_length=250, unique=True, help_text="The connection id, as in Airflow (conn_id).")
    conn_type = models.CharField(max_length=50, default=Type.GENERIC)
    host = models.CharField(max_length=500, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    schema = models.CharField(max_length=500, blank=True, help_text="Database or schema.")
    login = models.CharField(max_length=500, blank=True)
    password_encrypted = models.TextField(blank=True, serialize=False, editable=False)
    extra_encrypted = models.TextField(blank=True, serialize=False, editable=False)
    key_id = models.CharField(max_length=12, blank=True, editable=False, help_text="Which key encrypted the secrets.")
    description = models.TextField(blank=True)
    namespaces = models.JSONField(
        default=list, blank=True, help_text="OpenLineage namespaces this connection serves, e.g. postgres://db:5432."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_connections"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["slug"]
        permissions = [("use_connection", "Can use connections: test them and reveal their secrets")]

    def __str__(self) -> str:
        return self.slug

    def __repr__(self) -> str:
        return f"<Connection {self.slug} {self.conn_type}>"

    @property
    def type_label(self) -> str:
        """Airflow has many connection types; known ones get a friendly name, others show as they are."""
        return dict(self.Type.choices).get(self.conn_type, self.conn_type)

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    @property
    def has_extra(self) -> bool:
        return bool(self.extra_encrypted)


class AuditRecordQuerySet(models.QuerySet):
    def matching(
        self,
        *,
        actor: str = "",
        action: str = "",
        object: str = "",
        outcome: str = "",
        after=None,
        before=None,
        first: int | None = None,
        last: int | None = None,
    ) -> "AuditRecordQuerySet":
        """The auditor's filters. `action` may end in `.*` for a family (`auth.*`); `object` matches a
        `type:id`, a type, an id or part of the object's name."""
        records = self
        if actor:
            records = records.filter(models.Q(actor_label=actor) | models.Q(actor__username=actor))
        if action.endswith(".*"):
            records = records.filter(action__startswith=action[:-1])
        elif action:
            records = records.filter(action=action)
        if object:
            match = models.Q(object_type=object) | models.Q(object_id=object) | models.Q(object_name__icontains=object)
            type_, _, id_ = object.partition(":")
            if id_:
                match |= models.Q(object_type=type_, object_id=id_)
            records = records.filter(match)
        if outcome:
            records = records.filter(outcome=outcome)
        if after is not None:
            records = records.filter(time__gte=after)
        if before is not None:
            records = records.filter(time__lt=before)
        if first is not None:
            records = records.filter(sequence__gte=first)
        if last is not None:
            records = records.filter(sequence__lte=last)
        return records

    def within_namespaces(self, names) -> "AuditRecordQuerySet":
        """Records about objects of these namespaces alone (every namespace a record names is one of them): what
        an auditor narrowed to them reads. Records about no namespace (logins, users, roles) are left out."""
        names = sorted(set(names))
        if not names:
            return self.none()
        if connection.vendor == "postgresql":
            return self.filter(namespaces__contained_by=names).exclude(namespaces=[])
        # SQLite has no JSON containment: the same test with json_each.
        table = connection.ops.quote_name(self.model._meta.db_table)
        column = f"{table}.{connection.ops.quote_name('namespaces')}"
        sql = (
            f"json_array_length({column}) > 0 AND NOT EXISTS (SELECT 1 FROM json_each({column}) "
            f"WHERE json_each.value NOT IN ({', '.join(['%s'] * len(names))}))"
        )
        return self.filter(models.expressions.RawSQL(sql, names, output_field=models.BooleanField()))


class AuditRecord(models.Model):
    """One entry of the audit trail: who did what to which object, when, from where, and how it went.

    Append-only and hash-chained: `hash` is the SHA-256 of the canonical content (governance.auditchain), which
    includes `previous_hash`. Written only by `governance.audit.record`; on PostgreSQL a trigger refuses UPDATE
    and DELETE (retention excepted, see migration 0003).
    """

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"
        DENIED = "denied", "Denied"

    sequence = models.BigIntegerField(unique=True, help_text="Position in the chain: 1, 2, 3 … without gaps.")
    time = models.DateTimeField(db_index=True)
    # No database constraint and no cascade: deleting a user must neither fail on nor rewrite their records.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150, db_index=True, help_text="Username, token:<prefix>, or system.")
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=255, blank=True)
    object_name = models.CharField(max_length=255, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.SUCCESS)
    # Text, not inet: the hash covers the address exactly as recorded, and inet would re-spell some IPv6 forms.
    source_ip = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    changes = models.JSONField(null=True, blank=True, help_text="Changed fields: {field: {before, after}}.")
    detail = models.JSONField(null=True, blank=True)
    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    # Outside the hash (governance.auditchain.HASHED_FIELDS) on purpose: it says who may read the record, derived
    # from its target when it is written; records written before it existed keep the hashes they were given.
    namespaces = models.JSONField(
        null=True,
        blank=True,
        help_text="The OpenLineage namespaces the target belongs to; empty for records about no namespace.",
    )

    objects = AuditRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-sequence"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} by {self.actor_label} ({self.outcome})"


class AuditChainHead(models.Model):
    """The chain's last (sequence, hash), in one row: appenders lock it, which serialises the chain.

    It also lets `audit_verify` notice records cut from the end, which a walk of the records alone cannot.
    """

    sequence = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"audit chain head at {self.sequence}"


class AuditCheckpoint(models.Model):
    """A signed (sequence, hash) of the chain, kept for good: retention never cuts it, and on PostgreSQL a trigger
    refuses UPDATE, DELETE and TRUNCATE. `audit_verify` holds the chain to every one of them."""

    sequence = models.BigIntegerField(help_text="The record signed.")
    hash = models.CharField(max_length=64, help_text="Its hash, as signed.")
    signature = models.CharField(max_length=128, help_text="Ed25519, base64.")
    key_id = models.CharField(max_length=16)
    record_sequence = models.BigIntegerField(unique=True, help_text="The audit.checkpoint record that carries it.")

    class Meta:
        ordering = ["sequence"]

    def __str__(self) -> str:
        return f"checkpoint of record {self.sequence} (key {self.key_id})"

    def as_detail(self) -> dict:
        return {"sequence": self.sequence, "hash": self.hash, "signature": self.signature, "key_id": self.key_id}
