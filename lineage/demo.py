"""A demo Airflow estate as OpenLineage events (pure: plain dicts out, no database).

Seven DAGs on two Airflow instances move data from an operational PostgreSQL and landing files through a
warehouse into Snowflake, finance reports, ML features and a CRM export. The events have the shape Airflow 3
with apache-airflow-providers-openlineage 2.20 sends, quirks included (no `taskInstance.pool`,
`retry_exponential_backoff` as the integer 0, hook-level SQL reported as `<dag>.<task>.query.<n>` jobs).

Everything is a function of the logical date, never of the moment the generator runs: run ids are the
provider's static UUIDv7s (logical date, DAG, task, try), and randomness is seeded per DAG run. The same day
generated twice gives the same events, so loading the demo again adds only the days that are new.

The stories a demo should show (a failed retry, a failed DAG, a schema change, a task moving its output to
Snowflake, a DAG going hourly) happen on fixed days counted from `first_day`, the first day of the demo's
history: with the default fourteen days they are spread over the last two weeks.
"""

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import quote

from openlineage.client.uuid import generate_static_uuid

PRODUCER = "https://github.com/apache/airflow/tree/providers-openlineage/2.20.3"
AIRFLOW_VERSION = "3.3.2"
ADAPTER_VERSION = "2.20.3"
RUN_EVENT_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
CORE = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/"
FACETS = "https://openlineage.io/spec/facets/"

# Job namespaces (one per Airflow instance) and dataset namespaces.
AIRFLOW_PROD = "airflow-prod"
AIRFLOW_FINANCE = "airflow-finance"
ORDERS_DB = "postgres://orders-db:5432"
WAREHOUSE = "postgres://warehouse:5432"
SNOWFLAKE = "snowflake://acme.eu-west-1"
LANDING = "s3://acme-landing"
EXPORTS = "s3://acme-exports"

AIRFLOW_URLS = {AIRFLOW_PROD: "https://airflow.acme.example", AIRFLOW_FINANCE: "https://airflow-finance.acme.example"}
DAG_START_DATE = "2024-01-01T00:00:00+00:00"
RETRY_DELAY = timedelta(minutes=5)

# Story days, counted from the first day of the history (0 = two weeks ago with the default fourteen days).
PAYMENTS_TIMEOUT_DAY = 3
RECONCILIATION_FAILURE_DAY = 5
STAGING_DEADLOCK_DAY = 6
SNOWFLAKE_MIGRATION_DAY = 7
OPT_IN_COLUMN_DAY = 10
CHURN_MODEL_FAILURE_DAY = 11
CRM_HOURLY_DAY = 12
CRM_THROTTLED = (13, 9)  # day and hour of the S3 SlowDown
SPRINKLED_FAILURE_RATE = 0.01  # transient failures of a first try, healed by the retry

DEFAULT_DAYS = 14


# --- The estate: tables, tasks and DAGs --------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    namespace: str
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, type)
    owners: tuple[str, ...] = ()
    description: str = ""


def table(namespace: str, name: str, columns: str, *, owners: tuple[str, ...] = (), description: str = "") -> Table:
    """`columns` is "name:type, name:type"; types may contain spaces ("timestamp with time zone")."""
    pairs = tuple(tuple(part.strip().split(":", 1)) for part in columns.split(","))
    return Table(namespace, name, pairs, owners, description)  # type: ignore[arg-type]


@dataclass(frozen=True)
class From:
    """An input column an output column (or the whole output) depends on."""

    table: Table
    column: str
    subtype: str = "IDENTITY"
    description: str = ""
    masking: bool = False


@dataclass
class Write:
    table: Table
    fields: dict[str, tuple[From, ...]] = field(default_factory=dict)
    dataset: tuple[From, ...] = ()  # INDIRECT dependencies: filters, joins, grouping
    rows: tuple[int, int] = (1_000, 10_000)


@dataclass
class Query:
    """SQL a Python task ran through a hook; reported as its own job `<dag>.<task>.query.<n>`."""

    sql: str
    reads: tuple[Table, ...] = ()
    writes: tuple[Write, ...] = ()
    dialect: str = "postgres"


@dataclass
class Task:
    task_id: str
    operator: str  # class path
    upstream: tuple[str, ...] = ()
    reads: tuple[Table, ...] = ()
    writes: tuple[Write, ...] = ()
    sql: str = ""
    dialect: str = ""
    source: str = ""  # Python source, for the sourceCode facet of Python tasks
    queries: tuple[Query, ...] = ()
    checks: dict[str, list[dict]] = field(default_factory=dict)  # table name -> assertions
    seconds: tuple[float, float] = (20.0, 90.0)
    doc: str = ""

    @property
    def hook_lineage(self) -> bool:
        """Python tasks only know their datasets once the hooks ran: none at START."""
        return bool(self.source)


@dataclass
class Dag:
    dag_id: str
    namespace: str
    schedule: str  # cron expression
    owner: str
    tags: tuple[str, ...]
    description: str
    doc: str
    tasks: list[Task]
    retries: int = 1

    def logical_dates(self, day: date) -> list[datetime]:
        minute, hour = self.schedule.split()[:2]
        hours = range(24) if hour == "*" else [int(hour)]
        return [datetime.combine(day, time(h, int(minute)), tzinfo=UTC) for h in hours]

    def downstream(self, task_id: str) -> list[str]:
        return sorted(t.task_id for t in self.tasks if task_id in t.upstream)


@dataclass(frozen=True)
class Era:
    """What the estate looks like on a story day."""

    opt_in_column: bool
    revenue_on_snowflake: bool
    crm_hourly: bool

    @classmethod
    def of(cls, story_day: int) -> "Era":
        return cls(
            opt_in_column=story_day >= OPT_IN_COLUMN_DAY,
            revenue_on_snowflake=story_day >= SNOWFLAKE_MIGRATION_DAY,
            crm_hourly=story_day >= CRM_HOURLY_DAY,
        )


def same(source: Table, *columns: str, subtype: str = "IDENTITY") -> dict[str, tuple[From, ...]]:
    """Output columns copied from the columns of the same name."""
    return {column: (From(source, column, subtype),) for column in columns}


def column_names(source: Table) -> list[str]:
    return [name for name, _ in source.columns]


GENERIC_TRANSFER = "airflow.providers.common.sql.operators.generic_transfer.GenericTransfer"
SQL_EXECUTE = "airflow.providers.common.sql.operators.sql.SQLExecuteQueryOperator"
SQL_COLUMN_CHECK = "airflow.providers.common.sql.operators.sql.SQLColumnCheckOperator"
S3_TO_SQL = "airflow.providers.amazon.aws.transfers.s3_to_sql.S3ToSqlOperator"
SQL_TO_S3 = "airflow.providers.amazon.aws.transfers.sql_to_s3.SqlToS3Operator"
S3_KEY_SENSOR = "airflow.providers.amazon.aws.sensors.s3.S3KeySensor"
PYTHON_DECORATED = "airflow.providers.standard.decorators.python._PythonDecoratedOperator"
SLACK_WEBHOOK = "airflow.providers.slack.operators.slack_webhook.SlackWebhookOperator"

CHECKOUT_TEAM = ("team:checkout",)
PLATFORM_TEAM = ("team:data-platform",)
ANALYTICS_TEAM = ("team:analytics-engineering", "user:alice@acme.example")
FINANCE_TEAM = ("team:finance", "user:bob@acme.example")
ML_TEAM = ("team:ml-platform",)
MARKETING_TEAM = ("team:marketing-ops", "user:charlie@acme.example")


def build_estate(era: Era) -> list[Dag]:
    """The DAGs as they were in an era (tables are rebuilt too: their schemas belong to the era)."""
    opt_in = ", marketing_opt_in:boolean" if era.opt_in_column else ""
    src = {
        "customers": table(
            ORDERS_DB,
            "orders.public.customers",
            "id:bigint, email:character varying, phone:character varying, first_name:character varying, "
            "last_name:character varying, date_of_birth:date, country_code:character, "
            f"created_at:timestamp with time zone, updated_at:timestamp with time zone{opt_in}",
            owners=CHECKOUT_TEAM,
        ),
        "orders": table(
            ORDERS_DB,
            "orders.public.orders",
            "id:bigint, customer_id:bigint, status:character varying, currency:character, total_amount:numeric, "
            "shipping_address:text, placed_at:timestamp with time zone, updated_at:timestamp with time zone",
            owners=CHECKOUT_TEAM,
        ),
        "order_items": table(
            ORDERS_DB,
            "orders.public.order_items",
            "id:bigint, order_id:bigint, product_id:bigint, quantity:integer, unit_price:numeric, "
            "discount_amount:numeric, updated_at:timestamp with time zone",
            owners=CHECKOUT_TEAM,
        ),
        "products": table(
            ORDERS_DB,
            "orders.public.products",
            "id:bigint, sku:character varying, name:character varying, category:character varying, "
            "list_price:numeric, is_active:boolean, updated_at:timestamp with time zone",
            owners=CHECKOUT_TEAM,
        ),
        "payments": table(
            ORDERS_DB,
            "orders.public.payments",
            "id:bigint, order_id:bigint, method:character varying, iban:character varying, card_last4:character, "
            "amount:numeric, currency:character, status:character varying, paid_at:timestamp with time zone, "
            "updated_at:timestamp with time zone",
            owners=CHECKOUT_TEAM,
        ),
    }
    # The warehouse's raw layer mirrors the source tables, plus the load time.
    raw = {
        key: table(
            WAREHOUSE,
            f"analytics.raw.{key}",
            ", ".join(f"{n}:{t}" for n, t in source.columns) + ", _loaded_at:timestamp with time zone",
            owners=PLATFORM_TEAM,
        )
        for key, source in src.items()
    }
    contacts_file = table(
        LANDING,
        "crm/hubspot/contacts.csv",
        "contact_id:string, email:string, phone:string, first_name:string, last_name:string, company:string, "
        "lifecycle_stage:string, last_activity_at:string",
        description="Nightly HubSpot contacts export (CSV, UTF-8, comma separated).",
    )
    spend_file = table(
        LANDING,
        "marketing/ad_spend/daily_spend.csv",
        "spend_date:string, channel:string, campaign_id:string, campaign_name:string, spend_eur:string, "
        "impressions:string, clicks:string",
    )
    raw_contacts = table(
        WAREHOUSE,
        "analytics.raw.crm_contacts",
        "contact_id:character varying, email:character varying, phone:character varying, "
        "first_name:character varying, last_name:character varying, company:character varying, "
        "lifecycle_stage:character varying, last_activity_at:timestamp with time zone, "
        "_loaded_at:timestamp with time zone",
        owners=PLATFORM_TEAM,
    )
    raw_spend = table(
        WAREHOUSE,
        "analytics.raw.ad_spend",
        "spend_date:date, channel:character varying, campaign_id:character varying, "
        "campaign_name:character varying, spend_eur:numeric, impressions:bigint, clicks:bigint, "
        "_loaded_at:timestamp with time zone",
        owners=PLATFORM_TEAM,
    )

    stg_customers = table(
        WAREHOUSE,
        "analytics.staging.stg_customers",
        "customer_id:bigint, email:character varying, phone:character varying, first_name:character varying, "
        "last_name:character varying, date_of_birth:date, country_code:character, "
        "created_at:timestamp with time zone",
        owners=ANALYTICS_TEAM,
    )
    stg_orders = table(
        WAREHOUSE,
        "analytics.staging.stg_orders",
        "order_id:bigint, customer_id:bigint, status:character varying, currency:character, "
        "total_amount:numeric, placed_at:timestamp with time zone, paid_amount:numeric, "
        "payment_method:character varying, is_paid:boolean",
        owners=ANALYTICS_TEAM,
    )
    stg_order_items = table(
        WAREHOUSE,
        "analytics.staging.stg_order_items",
        "order_item_id:bigint, order_id:bigint, product_id:bigint, quantity:integer, unit_price:numeric, "
        "net_amount:numeric",
        owners=ANALYTICS_TEAM,
    )
    stg_products = table(
        WAREHOUSE,
        "analytics.staging.stg_products",
        "product_id:bigint, sku:character varying, product_name:character varying, category:character varying, "
        "list_price:numeric, is_active:boolean",
        owners=ANALYTICS_TEAM,
    )
    stg_contacts = table(
        WAREHOUSE,
        "analytics.staging.stg_crm_contacts",
        "contact_id:character varying, email:character varying, company:character varying, "
        "lifecycle_stage:character varying, last_activity_at:timestamp with time zone",
        owners=ANALYTICS_TEAM,
    )
    dim_customers = table(
        WAREHOUSE,
        "analytics.marts.dim_customers",
        "customer_id:bigint, email:character varying, phone:character varying, full_name:character varying, "
        "date_of_birth:date, country_code:character, lifecycle_stage:character varying, "
        "first_order_at:timestamp with time zone, lifetime_orders:bigint",
        owners=ANALYTICS_TEAM,
        description="One row per customer of the web shop, enriched with CRM lifecycle stage. Contains PII.",
    )
    fct_orders = table(
        WAREHOUSE,
        "analytics.marts.fct_orders",
        "order_id:bigint, customer_id:bigint, order_date:date, status:character varying, currency:character, "
        "items_count:bigint, gross_amount:numeric, paid_amount:numeric, product_categories:text",
        owners=ANALYTICS_TEAM,
        description="One row per order, with item totals and payment state.",
    )
    if era.revenue_on_snowflake:
        daily_revenue = table(
            SNOWFLAKE,
            "ANALYTICS.MARTS.DAILY_REVENUE",
            "REVENUE_DATE:DATE, CURRENCY:TEXT, ORDERS_COUNT:NUMBER, GROSS_REVENUE:NUMBER, PAID_REVENUE:NUMBER",
            owners=ANALYTICS_TEAM,
            description="Daily revenue per currency (moved from the warehouse to Snowflake).",
        )
    else:
        daily_revenue = table(
            WAREHOUSE,
            "analytics.marts.daily_revenue",
            "revenue_date:date, currency:character, orders_count:bigint, gross_revenue:numeric, paid_revenue:numeric",
            owners=ANALYTICS_TEAM,
            description="Daily revenue per currency.",
        )

    ledger = table(
        SNOWFLAKE,
        "FINANCE.STAGING.PAYMENTS_LEDGER",
        "PAYMENT_ID:NUMBER, ORDER_ID:NUMBER, CUSTOMER_ID:NUMBER, METHOD:TEXT, IBAN:TEXT, AMOUNT:NUMBER, "
        "CURRENCY:TEXT, STATUS:TEXT, PAID_AT:TIMESTAMP_NTZ",
        owners=FINANCE_TEAM,
        description="Settled and pending payments with the payer's IBAN, for reconciliation. Restricted.",
    )
    reconciliation = table(
        SNOWFLAKE,
        "FINANCE.REPORTING.RECONCILIATION",
        "REVENUE_DATE:DATE, CURRENCY:TEXT, BOOKED_REVENUE:NUMBER, SETTLED_AMOUNT:NUMBER, DIFFERENCE:NUMBER",
        owners=FINANCE_TEAM,
    )
    exceptions = table(
        SNOWFLAKE,
        "FINANCE.REPORTING.RECONCILIATION_EXCEPTIONS",
        "REVENUE_DATE:DATE, CURRENCY:TEXT, DIFFERENCE:NUMBER",
        owners=FINANCE_TEAM,
    )
    monthly_revenue = table(
        SNOWFLAKE,
        "FINANCE.REPORTING.MONTHLY_REVENUE",
        "REVENUE_MONTH:DATE, CURRENCY:TEXT, BOOKED_REVENUE:NUMBER, SETTLED_AMOUNT:NUMBER",
        owners=FINANCE_TEAM,
        description="Month-to-date booked and settled revenue, the basis of the monthly close.",
    )
    revenue_report = table(
        EXPORTS,
        "finance/monthly_revenue/monthly_revenue.csv",
        "revenue_month:string, currency:string, booked_revenue:string, settled_amount:string",
        owners=FINANCE_TEAM,
    )
    order_features = table(
        SNOWFLAKE,
        "ML.FEATURES.CUSTOMER_ORDER_FEATURES",
        "CUSTOMER_ID:NUMBER, ORDERS_90D:NUMBER, REVENUE_90D:NUMBER, AVG_ORDER_VALUE:FLOAT, "
        "DAYS_SINCE_LAST_ORDER:NUMBER",
        owners=ML_TEAM,
    )
    engagement_features = table(
        SNOWFLAKE,
        "ML.FEATURES.CUSTOMER_ENGAGEMENT_FEATURES",
        "EMAIL:TEXT, LIFECYCLE_STAGE:TEXT, DAYS_SINCE_ACTIVITY:NUMBER, CAMPAIGN_TOUCHES_30D:NUMBER",
        owners=ML_TEAM,
    )
    customer_features = table(
        SNOWFLAKE,
        "ML.FEATURES.CUSTOMER_FEATURES",
        "CUSTOMER_ID:NUMBER, ORDERS_90D:NUMBER, REVENUE_90D:NUMBER, AVG_ORDER_VALUE:FLOAT, "
        "DAYS_SINCE_LAST_ORDER:NUMBER, LIFECYCLE_STAGE:TEXT, DAYS_SINCE_ACTIVITY:NUMBER",
        owners=ML_TEAM,
        description="Training and scoring features of the churn model, one row per customer.",
    )
    audience = table(
        WAREHOUSE,
        "analytics.marts.crm_audience",
        "customer_id:bigint, email_sha256:character varying, country_code:character, "
        "lifecycle_stage:character varying, lifetime_orders:bigint",
        owners=MARKETING_TEAM,
        description="Active customers for HubSpot audiences; e-mail addresses are hashed.",
    )
    audience_file = table(
        EXPORTS,
        "hubspot/audiences/active_customers.csv",
        "customer_id:string, email_sha256:string, country_code:string, lifecycle_stage:string, lifetime_orders:string",
        owners=MARKETING_TEAM,
    )

    return [
        _ingest_orders_db(src, raw),
        _ingest_landing_files(contacts_file, spend_file, raw_contacts, raw_spend),
        _transform_staging(raw, raw_contacts, stg_customers, stg_orders, stg_order_items, stg_products, stg_contacts),
        _build_marts(
            era,
            stg_customers,
            stg_orders,
            stg_order_items,
            stg_products,
            stg_contacts,
            dim_customers,
            fct_orders,
            daily_revenue,
        ),
        _finance_reporting(
            era, raw, daily_revenue, ledger, reconciliation, exceptions, monthly_revenue, revenue_report
        ),
        _ml_customer_features(
            fct_orders, stg_contacts, raw_spend, order_features, engagement_features, customer_features
        ),
        _crm_audience_sync(era, dim_customers, audience, audience_file),
    ]


def _ingest_orders_db(src: dict[str, Table], raw: dict[str, Table]) -> Dag:
    loads = []
    for key in ("customers", "orders", "order_items", "products", "payments"):
        columns = column_names(src[key])
        loads.append(
            Task(
                f"load_{key}",
                GENERIC_TRANSFER,
                reads=(src[key],),
                writes=(Write(raw[key], same(src[key], *columns), rows=(800, 9_000)),),
                sql=f"SELECT {', '.join(columns)}, now() AS _loaded_at FROM public.{key} "
                "WHERE updated_at >= '{since}' AND updated_at < '{until}'",
                dialect="postgres",
                seconds=(25.0, 140.0),
            )
        )
    check = Task(
        "check_row_counts",
        PYTHON_DECORATED,
        upstream=tuple(t.task_id for t in loads),
        source=(
            "@task\ndef check_row_counts(data_interval_start=None, data_interval_end=None):\n"
            '    source = PostgresHook("orders_db").get_first(COUNT_SQL, parameters=...)[0]\n'
            '    loaded = PostgresHook("warehouse").get_first(RAW_COUNT_SQL, parameters=...)[0]\n'
            "    if source != loaded:\n"
            '        raise ValueError(f"orders: {source} in orders-db, {loaded} loaded")\n'
        ),
        queries=(
            Query(
                "SELECT count(*) FROM public.orders WHERE updated_at >= %(since)s AND updated_at < %(until)s",
                reads=(src["orders"],),
            ),
            Query(
                "SELECT count(*) FROM raw.orders WHERE updated_at >= %(since)s AND updated_at < %(until)s",
                reads=(raw["orders"],),
            ),
        ),
        seconds=(3.0, 9.0),
        doc="Fails the run when the number of orders loaded differs from the source.",
    )
    return Dag(
        "ingest_orders_db",
        AIRFLOW_PROD,
        "0 1 * * *",
        "data-platform",
        ("ingestion", "orders", "pii"),
        "Copies yesterday's changes of the shop database (orders-db) into the warehouse's raw schema.",
        "### Ingest orders-db\nIncremental copy of `public.*` by `updated_at`. Owner: #data-platform.",
        [*loads, check],
        retries=2,
    )


def _ingest_landing_files(contacts_file: Table, spend_file: Table, raw_contacts: Table, raw_spend: Table) -> Dag:
    contact_cols = column_names(contacts_file)
    contacts_lineage = same(contacts_file, *contact_cols)
    contacts_lineage["last_activity_at"] = (From(contacts_file, "last_activity_at", "TRANSFORMATION", "CAST"),)
    spend_lineage = {}
    for column in column_names(spend_file):
        casted = column in ("spend_date", "spend_eur", "impressions", "clicks")
        spend_lineage[column] = (
            From(spend_file, column, "TRANSFORMATION" if casted else "IDENTITY", "CAST" if casted else ""),
        )
    return Dag(
        "ingest_landing_files",
        AIRFLOW_PROD,
        "30 1 * * *",
        "data-platform",
        ("ingestion", "files"),
        "Loads the nightly CRM and ad-spend exports dropped in s3://acme-landing.",
        "Files land around 01:00 UTC; the sensor waits up to two hours.",
        [
            Task("wait_for_contacts_export", S3_KEY_SENSOR, seconds=(30.0, 600.0)),
            Task(
                "load_crm_contacts",
                S3_TO_SQL,
                upstream=("wait_for_contacts_export",),
                reads=(contacts_file,),
                writes=(Write(raw_contacts, contacts_lineage, rows=(2_000, 6_000)),),
                seconds=(20.0, 70.0),
            ),
            Task(
                "load_ad_spend",
                S3_TO_SQL,
                reads=(spend_file,),
                writes=(Write(raw_spend, spend_lineage, rows=(40, 120)),),
                seconds=(5.0, 20.0),
            ),
        ],
    )


def _transform_staging(
    raw: dict[str, Table],
    raw_contacts: Table,
    stg_customers: Table,
    stg_orders: Table,
    stg_order_items: Table,
    stg_products: Table,
    stg_contacts: Table,
) -> Dag:
    customers, orders, items, products, payments = (
        raw[k] for k in ("customers", "orders", "order_items", "products", "payments")
    )
    customer_fields = {
        "customer_id": (From(customers, "id"),),
        "email": (From(customers, "email", "TRANSFORMATION", "lower(trim(email))"),),
        "phone": (From(customers, "phone", "TRANSFORMATION", "E.164 normalisation"),),
        **same(customers, "first_name", "last_name", "date_of_birth", "country_code", "created_at"),
    }
    order_fields = {
        "order_id": (From(orders, "id"),),
        **same(orders, "customer_id", "status", "currency", "total_amount", "placed_at"),
        "paid_amount": (From(payments, "amount", "AGGREGATION", "sum(amount) FILTER (WHERE status = 'settled')"),),
        "payment_method": (From(payments, "method"),),
        "is_paid": (From(payments, "status", "TRANSFORMATION", "bool_or(status = 'settled')"),),
    }
    item_fields = {
        "order_item_id": (From(items, "id"),),
        **same(items, "order_id", "product_id", "quantity", "unit_price"),
        "net_amount": tuple(
            From(items, c, "TRANSFORMATION", "quantity * unit_price - discount_amount")
            for c in ("quantity", "unit_price", "discount_amount")
        ),
    }
    product_fields = {
        "product_id": (From(products, "id"),),
        "product_name": (From(products, "name"),),
        **same(products, "sku", "category", "list_price", "is_active"),
    }
    contact_fields = {
        **same(raw_contacts, "contact_id", "company", "lifecycle_stage", "last_activity_at"),
        "email": (From(raw_contacts, "email", "TRANSFORMATION", "lower(trim(email))"),),
    }

    def model(task_id, target, fields, reads, sql, *, dataset=(), upstream=(), rows=(1_000, 10_000)):
        return Task(
            task_id,
            SQL_EXECUTE,
            upstream=upstream,
            reads=reads,
            writes=(Write(target, fields, dataset, rows),),
            sql=sql,
            dialect="postgres",
            seconds=(15.0, 120.0),
        )

    return Dag(
        "transform_staging",
        AIRFLOW_PROD,
        "0 3 * * *",
        "analytics-engineering",
        ("transform", "staging"),
        "Cleans and deduplicates the raw layer into analytics.staging.",
        "Staging models: one row per entity, latest version by `updated_at`, normalised e-mail and phone.",
        [
            model(
                "stg_customers",
                stg_customers,
                customer_fields,
                (customers,),
                "INSERT INTO staging.stg_customers SELECT DISTINCT ON (id) id, lower(trim(email)), "
                "normalise_phone(phone), first_name, last_name, date_of_birth, country_code, created_at "
                "FROM raw.customers WHERE email IS NOT NULL ORDER BY id, updated_at DESC",
                dataset=(From(customers, "email", "FILTER"), From(customers, "updated_at", "SORT")),
                rows=(500, 3_000),
            ),
            model(
                "stg_orders",
                stg_orders,
                order_fields,
                (orders, payments),
                "INSERT INTO staging.stg_orders SELECT o.id, o.customer_id, o.status, o.currency, o.total_amount, "
                "o.placed_at, sum(p.amount) FILTER (WHERE p.status = 'settled'), max(p.method), "
                "bool_or(p.status = 'settled') FROM raw.orders o LEFT JOIN raw.payments p ON p.order_id = o.id "
                "GROUP BY 1, 2, 3, 4, 5, 6",
                dataset=(
                    From(orders, "id", "JOIN"),
                    From(payments, "order_id", "JOIN"),
                    From(payments, "status", "FILTER"),
                ),
                rows=(2_000, 9_000),
            ),
            model(
                "stg_order_items",
                stg_order_items,
                item_fields,
                (items,),
                "INSERT INTO staging.stg_order_items SELECT id, order_id, product_id, quantity, unit_price, "
                "quantity * unit_price - discount_amount FROM raw.order_items",
                rows=(4_000, 20_000),
            ),
            model(
                "stg_products",
                stg_products,
                product_fields,
                (products,),
                "INSERT INTO staging.stg_products SELECT id, sku, name, category, list_price, is_active "
                "FROM raw.products",
                rows=(50, 400),
            ),
            model(
                "stg_crm_contacts",
                stg_contacts,
                contact_fields,
                (raw_contacts,),
                "INSERT INTO staging.stg_crm_contacts SELECT contact_id, lower(trim(email)), company, "
                "lifecycle_stage, last_activity_at FROM raw.crm_contacts WHERE email IS NOT NULL",
                dataset=(From(raw_contacts, "email", "FILTER"),),
                rows=(2_000, 6_000),
            ),
        ],
    )


def _build_marts(
    era: Era,
    stg_customers: Table,
    stg_orders: Table,
    stg_order_items: Table,
    stg_products: Table,
    stg_contacts: Table,
    dim_customers: Table,
    fct_orders: Table,
    daily_revenue: Table,
) -> Dag:
    dim_fields = {
        **same(stg_customers, "customer_id", "email", "phone", "date_of_birth", "country_code"),
        "full_name": tuple(
            From(stg_customers, c, "TRANSFORMATION", "first_name || ' ' || last_name")
            for c in ("first_name", "last_name")
        ),
        "lifecycle_stage": (From(stg_contacts, "lifecycle_stage"),),
        "first_order_at": (From(stg_orders, "placed_at", "AGGREGATION", "min(placed_at)"),),
        "lifetime_orders": (From(stg_orders, "order_id", "AGGREGATION", "count(order_id)"),),
    }
    fct_fields = {
        **same(stg_orders, "order_id", "customer_id", "status", "currency", "paid_amount"),
        "order_date": (From(stg_orders, "placed_at", "TRANSFORMATION", "placed_at::date"),),
        "items_count": (From(stg_order_items, "order_item_id", "AGGREGATION", "count(*)"),),
        "gross_amount": (From(stg_order_items, "net_amount", "AGGREGATION", "sum(net_amount)"),),
        "product_categories": (From(stg_products, "category", "AGGREGATION", "string_agg(DISTINCT category)"),),
    }
    date_col, currency, orders_count, gross, paid = (name for name, _ in daily_revenue.columns)
    revenue_fields = {
        date_col: (From(fct_orders, "order_date"),),
        currency: (From(fct_orders, "currency"),),
        orders_count: (From(fct_orders, "order_id", "AGGREGATION", "count(order_id)"),),
        gross: (From(fct_orders, "gross_amount", "AGGREGATION", "sum(gross_amount)"),),
        paid: (From(fct_orders, "paid_amount", "AGGREGATION", "sum(paid_amount)"),),
    }
    revenue_filters = (From(fct_orders, "status", "FILTER"), From(fct_orders, "order_date", "GROUP_BY"))
    revenue_select = (
        "SELECT order_date, currency, count(order_id), sum(gross_amount), sum(paid_amount) FROM marts.fct_orders "
        "WHERE status <> 'cancelled' GROUP BY order_date, currency"
    )
    if era.revenue_on_snowflake:
        # The warehouse-to-Snowflake migration: same numbers, now pushed to Snowflake by a transfer.
        revenue = Task(
            "build_daily_revenue",
            GENERIC_TRANSFER,
            upstream=("build_fct_orders",),
            reads=(fct_orders,),
            writes=(Write(daily_revenue, revenue_fields, revenue_filters, rows=(10, 40)),),
            sql=revenue_select,
            dialect="postgres",
            seconds=(20.0, 60.0),
            doc="Moved to Snowflake (ANALYTICS.MARTS.DAILY_REVENUE); the warehouse table is no longer refreshed.",
        )
    else:
        revenue = Task(
            "build_daily_revenue",
            SQL_EXECUTE,
            upstream=("build_fct_orders",),
            reads=(fct_orders,),
            writes=(Write(daily_revenue, revenue_fields, revenue_filters, rows=(10, 40)),),
            sql="INSERT INTO marts.daily_revenue " + revenue_select,
            dialect="postgres",
            seconds=(10.0, 40.0),
        )
    checks = {
        dim_customers.name: [
            {"assertion": "null_check", "success": True, "column": "customer_id"},
            {"assertion": "unique_check", "success": True, "column": "customer_id"},
            {"assertion": "null_check", "success": True, "column": "email"},
        ],
        fct_orders.name: [
            {"assertion": "null_check", "success": True, "column": "order_id"},
            {"assertion": "min", "success": True, "column": "gross_amount"},
        ],
    }
    return Dag(
        "build_marts",
        AIRFLOW_PROD,
        "0 4 * * *",
        "analytics-engineering",
        ("transform", "marts", "pii"),
        "Customer and order marts for analysts, finance and marketing.",
        "Marts are rebuilt daily after `transform_staging`. Questions: #analytics-engineering.",
        [
            Task(
                "build_dim_customers",
                SQL_EXECUTE,
                reads=(stg_customers, stg_contacts, stg_orders),
                writes=(
                    Write(
                        dim_customers,
                        dim_fields,
                        (
                            From(stg_contacts, "email", "JOIN"),
                            From(stg_customers, "email", "JOIN"),
                            From(stg_orders, "customer_id", "GROUP_BY"),
                        ),
                        rows=(40_000, 42_000),
                    ),
                ),
                sql="INSERT INTO marts.dim_customers SELECT c.customer_id, c.email, c.phone, "
                "c.first_name || ' ' || c.last_name, c.date_of_birth, c.country_code, k.lifecycle_stage, "
                "min(o.placed_at), count(o.order_id) FROM staging.stg_customers c "
                "LEFT JOIN staging.stg_crm_contacts k ON k.email = c.email "
                "LEFT JOIN staging.stg_orders o ON o.customer_id = c.customer_id GROUP BY 1, 2, 3, 4, 5, 6, 7",
                dialect="postgres",
                seconds=(40.0, 150.0),
            ),
            Task(
                "build_fct_orders",
                SQL_EXECUTE,
                reads=(stg_orders, stg_order_items, stg_products),
                writes=(
                    Write(
                        fct_orders,
                        fct_fields,
                        (
                            From(stg_order_items, "order_id", "JOIN"),
                            From(stg_order_items, "product_id", "JOIN"),
                            From(stg_products, "product_id", "JOIN"),
                        ),
                        rows=(2_000, 9_000),
                    ),
                ),
                sql="INSERT INTO marts.fct_orders SELECT o.order_id, o.customer_id, o.placed_at::date, o.status, "
                "o.currency, count(*), sum(i.net_amount), o.paid_amount, string_agg(DISTINCT p.category, ',') "
                "FROM staging.stg_orders o JOIN staging.stg_order_items i ON i.order_id = o.order_id "
                "JOIN staging.stg_products p ON p.product_id = i.product_id GROUP BY o.order_id",
                dialect="postgres",
                seconds=(30.0, 120.0),
            ),
            revenue,
            Task(
                "check_marts",
                SQL_COLUMN_CHECK,
                upstream=("build_dim_customers", "build_fct_orders"),
                reads=(dim_customers, fct_orders),
                checks=checks,
                seconds=(5.0, 15.0),
            ),
        ],
    )


def _finance_reporting(
    era: Era,
    raw: dict[str, Table],
    daily_revenue: Table,
    ledger: Table,
    reconciliation: Table,
    exceptions: Table,
    monthly_revenue: Table,
    revenue_report: Table,
) -> Dag:
    payments, orders = raw["payments"], raw["orders"]
    ledger_fields = {
        "PAYMENT_ID": (From(payments, "id"),),
        "ORDER_ID": (From(payments, "order_id"),),
        "CUSTOMER_ID": (From(orders, "customer_id"),),
        **{name.upper(): (From(payments, name),) for name in ("method", "iban", "amount", "currency", "status")},
        "PAID_AT": (From(payments, "paid_at"),),
    }
    settled = From(ledger, "AMOUNT", "AGGREGATION", "SUM(AMOUNT)")
    reconciliation_fields = {"SETTLED_AMOUNT": (settled,), "CURRENCY": (From(ledger, "CURRENCY"),)}
    merge = (
        "MERGE INTO FINANCE.REPORTING.RECONCILIATION r USING (SELECT d.REVENUE_DATE, d.CURRENCY, "
        "d.BOOKED_REVENUE, SUM(l.AMOUNT) AS SETTLED_AMOUNT FROM {booked} d JOIN FINANCE.STAGING.PAYMENTS_LEDGER l "
        "ON l.PAID_AT::DATE = d.REVENUE_DATE AND l.CURRENCY = d.CURRENCY GROUP BY 1, 2, 3) s "
        "ON r.REVENUE_DATE = s.REVENUE_DATE AND r.CURRENCY = s.CURRENCY WHEN MATCHED THEN UPDATE "
        "SET BOOKED_REVENUE = s.BOOKED_REVENUE, SETTLED_AMOUNT = s.SETTLED_AMOUNT, "
        "DIFFERENCE = s.BOOKED_REVENUE - s.SETTLED_AMOUNT WHEN NOT MATCHED THEN INSERT VALUES "
        "(s.REVENUE_DATE, s.CURRENCY, s.BOOKED_REVENUE, s.SETTLED_AMOUNT, s.BOOKED_REVENUE - s.SETTLED_AMOUNT)"
    )
    if era.revenue_on_snowflake:
        # Both sides in Snowflake: one statement, and column lineage from booked revenue to the difference.
        reconciliation_fields |= {
            "REVENUE_DATE": (From(daily_revenue, "REVENUE_DATE"),),
            "BOOKED_REVENUE": (From(daily_revenue, "PAID_REVENUE"),),
            "DIFFERENCE": (From(daily_revenue, "PAID_REVENUE", "TRANSFORMATION", "BOOKED - SETTLED"), settled),
        }
        booked_queries: tuple[Query, ...] = ()
        merge_sql = merge.format(
            booked="(SELECT REVENUE_DATE, CURRENCY, PAID_REVENUE AS BOOKED_REVENUE FROM ANALYTICS.MARTS.DAILY_REVENUE)"
        )
        merge_reads: tuple[Table, ...] = (daily_revenue, ledger)
    else:
        # Booked revenue still lives in the warehouse: fetched through a PostgresHook, bound as a parameter.
        reconciliation_fields |= {
            "REVENUE_DATE": (From(ledger, "PAID_AT", "TRANSFORMATION", "PAID_AT::DATE"),),
            "DIFFERENCE": (settled,),
        }
        booked_queries = (
            Query(
                "SELECT revenue_date, currency, paid_revenue FROM marts.daily_revenue WHERE revenue_date = %(ds)s",
                reads=(daily_revenue,),
            ),
        )
        merge_sql = merge.format(booked="TABLE(FLATTEN(PARSE_JSON(%(booked)s)))")
        merge_reads = (ledger,)
    return Dag(
        "finance_reporting",
        AIRFLOW_FINANCE,
        "0 6 * * *",
        "finance",
        ("finance", "sox"),
        "Payments ledger, revenue reconciliation and the monthly revenue report.",
        "SOX-relevant. Changes need a ticket in FINOPS and a second reviewer.",
        [
            Task(
                "extract_payments_ledger",
                GENERIC_TRANSFER,
                reads=(payments, orders),
                writes=(
                    Write(
                        ledger,
                        ledger_fields,
                        (From(payments, "order_id", "JOIN"), From(orders, "id", "JOIN")),
                        rows=(3_000, 11_000),
                    ),
                ),
                sql="SELECT p.id, p.order_id, o.customer_id, p.method, p.iban, p.amount, p.currency, p.status, "
                "p.paid_at FROM raw.payments p JOIN raw.orders o ON o.id = p.order_id "
                "WHERE p.paid_at >= '{since}' AND p.paid_at < '{until}'",
                dialect="postgres",
                seconds=(30.0, 110.0),
            ),
            Task(
                "reconcile_payments",
                PYTHON_DECORATED,
                upstream=("extract_payments_ledger",),
                source=(
                    "@task\ndef reconcile_payments(ds=None):\n"
                    '    hook = SnowflakeHook(snowflake_conn_id="snowflake_finance")\n'
                    "    hook.run(RECONCILE_SQL, parameters=booked_revenue(ds))\n"
                    "    hook.run(EXCEPTIONS_SQL, parameters={'ds': ds})\n"
                ),
                queries=(
                    *booked_queries,
                    Query(
                        merge_sql,
                        reads=merge_reads,
                        writes=(
                            Write(
                                reconciliation,
                                reconciliation_fields,
                                (From(ledger, "PAID_AT", "JOIN"), From(ledger, "CURRENCY", "JOIN")),
                                rows=(2, 8),
                            ),
                        ),
                        dialect="snowflake",
                    ),
                    Query(
                        "INSERT INTO FINANCE.REPORTING.RECONCILIATION_EXCEPTIONS SELECT REVENUE_DATE, CURRENCY, "
                        "DIFFERENCE FROM FINANCE.REPORTING.RECONCILIATION WHERE ABS(DIFFERENCE) > 0.01",
                        reads=(reconciliation,),
                        writes=(
                            Write(
                                exceptions,
                                same(reconciliation, "REVENUE_DATE", "CURRENCY", "DIFFERENCE"),
                                (From(reconciliation, "DIFFERENCE", "FILTER"),),
                                rows=(0, 3),
                            ),
                        ),
                        dialect="snowflake",
                    ),
                ),
                seconds=(20.0, 60.0),
            ),
            Task(
                "build_monthly_revenue",
                SQL_EXECUTE,
                upstream=("reconcile_payments",),
                reads=(reconciliation,),
                writes=(
                    Write(
                        monthly_revenue,
                        {
                            "REVENUE_MONTH": (
                                From(reconciliation, "REVENUE_DATE", "TRANSFORMATION", "DATE_TRUNC('MONTH', ...)"),
                            ),
                            "CURRENCY": (From(reconciliation, "CURRENCY"),),
                            "BOOKED_REVENUE": (From(reconciliation, "BOOKED_REVENUE", "AGGREGATION", "SUM"),),
                            "SETTLED_AMOUNT": (From(reconciliation, "SETTLED_AMOUNT", "AGGREGATION", "SUM"),),
                        },
                        (From(reconciliation, "REVENUE_DATE", "GROUP_BY"),),
                        rows=(2, 6),
                    ),
                ),
                sql="INSERT OVERWRITE INTO FINANCE.REPORTING.MONTHLY_REVENUE SELECT DATE_TRUNC('MONTH', REVENUE_DATE), "
                "CURRENCY, SUM(BOOKED_REVENUE), SUM(SETTLED_AMOUNT) FROM FINANCE.REPORTING.RECONCILIATION "
                "GROUP BY 1, 2",
                dialect="snowflake",
                seconds=(8.0, 25.0),
            ),
            Task(
                "export_revenue_report",
                SQL_TO_S3,
                upstream=("build_monthly_revenue",),
                reads=(monthly_revenue,),
                writes=(
                    Write(
                        revenue_report,
                        {
                            name.lower(): (From(monthly_revenue, name),)
                            for name in ("REVENUE_MONTH", "CURRENCY", "BOOKED_REVENUE", "SETTLED_AMOUNT")
                        },
                        rows=(2, 6),
                    ),
                ),
                sql="SELECT REVENUE_MONTH, CURRENCY, BOOKED_REVENUE, SETTLED_AMOUNT "
                "FROM FINANCE.REPORTING.MONTHLY_REVENUE ORDER BY 1, 2",
                dialect="snowflake",
                seconds=(5.0, 15.0),
            ),
        ],
    )


def _ml_customer_features(
    fct_orders: Table,
    stg_contacts: Table,
    raw_spend: Table,
    order_features: Table,
    engagement_features: Table,
    customer_features: Table,
) -> Dag:
    features = {
        **same(order_features, "CUSTOMER_ID", "ORDERS_90D", "REVENUE_90D", "AVG_ORDER_VALUE", "DAYS_SINCE_LAST_ORDER"),
        **same(engagement_features, "LIFECYCLE_STAGE", "DAYS_SINCE_ACTIVITY"),
    }
    return Dag(
        "ml_customer_features",
        AIRFLOW_PROD,
        "0 5 * * *",
        "ml-platform",
        ("ml", "features"),
        "Customer features for the churn model, and its nightly retraining.",
        "Feature definitions live in `ml/features/customer.py`.",
        [
            Task(
                "compute_order_features",
                PYTHON_DECORATED,
                source=(
                    "@task\ndef compute_order_features():\n"
                    '    orders = PostgresHook("warehouse").get_df(ORDERS_SQL)\n'
                    "    features = order_features(orders, window_days=90)\n"
                    '    SnowflakeHook("snowflake_ml").write_pandas(features, "CUSTOMER_ORDER_FEATURES")\n'
                ),
                reads=(fct_orders,),
                writes=(Write(order_features, rows=(38_000, 41_000)),),
                seconds=(60.0, 240.0),
            ),
            Task(
                "compute_engagement_features",
                PYTHON_DECORATED,
                source=(
                    "@task\ndef compute_engagement_features():\n"
                    '    contacts = PostgresHook("warehouse").get_df(CONTACTS_SQL)\n'
                    '    spend = PostgresHook("warehouse").get_df(SPEND_SQL)\n'
                    '    SnowflakeHook("snowflake_ml").write_pandas(engagement(contacts, spend), '
                    '"CUSTOMER_ENGAGEMENT_FEATURES")\n'
                ),
                reads=(stg_contacts, raw_spend),
                writes=(Write(engagement_features, rows=(30_000, 33_000)),),
                seconds=(40.0, 160.0),
            ),
            Task(
                "build_training_set",
                SQL_EXECUTE,
                upstream=("compute_order_features", "compute_engagement_features"),
                reads=(order_features, engagement_features),
                writes=(
                    Write(
                        customer_features,
                        features,
                        (From(order_features, "CUSTOMER_ID", "JOIN"), From(engagement_features, "EMAIL", "JOIN")),
                        rows=(38_000, 41_000),
                    ),
                ),
                sql="CREATE OR REPLACE TABLE ML.FEATURES.CUSTOMER_FEATURES AS SELECT o.*, e.LIFECYCLE_STAGE, "
                "e.DAYS_SINCE_ACTIVITY FROM ML.FEATURES.CUSTOMER_ORDER_FEATURES o "
                "LEFT JOIN ML.FEATURES.CUSTOMER_ENGAGEMENT_FEATURES e ON e.EMAIL = o.EMAIL",
                dialect="snowflake",
                seconds=(20.0, 80.0),
            ),
            Task(
                "train_churn_model",
                PYTHON_DECORATED,
                upstream=("build_training_set",),
                source=(
                    "@task\ndef train_churn_model():\n"
                    '    frame = SnowflakeHook("snowflake_ml").get_pandas_df(FEATURES_SQL)\n'
                    "    model = LogisticRegression(max_iter=500).fit(frame[FEATURES], frame['CHURNED'])\n"
                    "    mlflow.sklearn.log_model(model, 'churn')\n"
                ),
                reads=(customer_features,),
                seconds=(120.0, 420.0),
            ),
        ],
    )


def _crm_audience_sync(era: Era, dim_customers: Table, audience: Table, audience_file: Table) -> Dag:
    audience_fields = {
        **same(dim_customers, "customer_id", "country_code", "lifecycle_stage", "lifetime_orders"),
        "email_sha256": (From(dim_customers, "email", "TRANSFORMATION", "sha256(lower(email))", masking=True),),
    }
    return Dag(
        "crm_audience_sync",
        AIRFLOW_PROD,
        "15 * * * *" if era.crm_hourly else "15 6 * * *",
        "marketing-ops",
        ("marketing", "export", "pii"),
        "Pushes the active-customer audience to HubSpot through s3://acme-exports.",
        "HubSpot imports the file at :30; the audience must be fresh by then.",
        [
            Task(
                "build_audience",
                SQL_EXECUTE,
                reads=(dim_customers,),
                writes=(
                    Write(
                        audience,
                        audience_fields,
                        (From(dim_customers, "lifecycle_stage", "FILTER"),),
                        rows=(18_000, 21_000),
                    ),
                ),
                sql="INSERT INTO marts.crm_audience SELECT customer_id, encode(sha256(lower(email)::bytea), 'hex'), "
                "country_code, lifecycle_stage, lifetime_orders FROM marts.dim_customers "
                "WHERE lifecycle_stage IN ('customer', 'evangelist')",
                dialect="postgres",
                seconds=(10.0, 40.0),
            ),
            Task(
                "export_audience_to_s3",
                SQL_TO_S3,
                upstream=("build_audience",),
                reads=(audience,),
                writes=(Write(audience_file, same(audience, *column_names(audience)), rows=(18_000, 21_000)),),
                sql="SELECT customer_id, email_sha256, country_code, lifecycle_stage, lifetime_orders "
                "FROM marts.crm_audience",
                dialect="postgres",
                seconds=(8.0, 30.0),
            ),
            Task("notify_marketing", SLACK_WEBHOOK, upstream=("export_audience_to_s3",), seconds=(1.0, 3.0)),
        ],
    )


# --- Failures ----------------------------------------------------------------------------------------

# Where an Airflow worker image keeps its packages: paths in the demo tracebacks, as real task failures report them
# (event data about another machine, never a path read or written here).
SITE = "/home/airflow/.local/lib/python3.12/site-packages/"
# The frames every task failure starts with: Airflow 3's task runner calling the operator.
RUNNER_FRAMES = (
    "airflow/sdk/execution_time/task_runner.py:920:run:result = _execute_task(context=context, ti=ti, log=log)",
    "airflow/sdk/execution_time/task_runner.py:1215:_execute_task:result = ctx.run(execute, context=context)",
    "airflow/sdk/bases/operator.py:416:wrapper:return func(self, *args, **kwargs)",
)
PYTHON_TASK_FRAMES = (
    "airflow/sdk/bases/decorator.py:299:execute:return_value = super().execute(context)",
    "airflow/providers/standard/operators/python.py:217:execute:return_value = self.execute_callable()",
)


@dataclass(frozen=True)
class Failure:
    message: str
    frames: tuple[str, ...]  # "path:line:function:code" below the task runner; paths under SITE unless absolute
    exception: str  # the last line of the traceback
    tries: int = 1  # how many tries fail; more than the retries fails the DAG run
    query_writing: str = ""  # for tasks running hook-level queries: the table of the query that fails

    @property
    def stack_trace(self) -> str:
        lines = ["Traceback (most recent call last):"]
        for frame in (*RUNNER_FRAMES, *self.frames):
            path, line, function, code = frame.split(":", 3)
            path = path if path.startswith("/") else SITE + path
            lines += [f'  File "{path}", line {line}, in {function}', f"    {code}"]
        return "\n".join([*lines, self.exception]) + "\n"


PAYMENTS_TIMEOUT = Failure(
    message='connection to server at "orders-db" (10.20.3.14), port 5432 failed: Connection timed out\n'
    "\tIs the server running on that host and accepting TCP/IP connections?\n",
    frames=(
        "airflow/providers/common/sql/operators/generic_transfer.py:176:execute:"
        "results = source_hook.get_records(self.sql)",
        "airflow/providers/common/sql/hooks/sql.py:422:get_records:"
        "return self.run(sql=sql, parameters=parameters, handler=fetch_all_handler)",
        "airflow/providers/common/sql/hooks/sql.py:612:run:"
        "with self._create_autocommit_connection(autocommit) as conn:",
        "airflow/providers/postgres/hooks/postgres.py:198:get_conn:self.conn = psycopg2.connect(**conn_args)",
        "psycopg2/__init__.py:122:connect:conn = _connect(dsn, connection_factory=connection_factory, **kwasync)",
    ),
    exception='psycopg2.OperationalError: connection to server at "orders-db" (10.20.3.14), port 5432 failed: '
    "Connection timed out",
)
STAGING_DEADLOCK = Failure(
    message="deadlock detected\nDETAIL:  Process 48211 waits for ShareLock on transaction 9912034; blocked by "
    "process 48190.\nProcess 48190 waits for ShareLock on transaction 9912031; blocked by process 48211.\n"
    "HINT:  See server log for query details.\n",
    frames=(
        "airflow/providers/common/sql/operators/sql.py:311:execute:output = hook.run(",
        "airflow/providers/common/sql/hooks/sql.py:632:run:self._run_command(cur, sql_statement, parameters)",
        "airflow/providers/common/sql/hooks/sql.py:688:_run_command:cur.execute(sql_statement)",
    ),
    exception="psycopg2.errors.DeadlockDetected: deadlock detected",
)
RECONCILIATION_ERROR = Failure(
    message="100038 (22018): 01bd1f2e-0305-8a1c-0000-4c1d0a7e52b6: Numeric value 'N/A' is not recognized",
    frames=(
        *PYTHON_TASK_FRAMES,
        "/opt/airflow/dags/finance_reporting.py:88:reconcile_payments:"
        "hook.run(RECONCILE_SQL, parameters=booked_revenue(ds))",
        "airflow/providers/snowflake/hooks/snowflake.py:597:run:self._run_command(cur, sql_statement, parameters)",
        "snowflake/connector/cursor.py:1134:execute:"
        "Error.errorhandler_wrapper(self.connection, self, error_class, errvalue)",
    ),
    exception="snowflake.connector.errors.ProgrammingError: 100038 (22018): 01bd1f2e-0305-8a1c-0000-4c1d0a7e52b6: "
    "Numeric value 'N/A' is not recognized",
    tries=99,
    query_writing="FINANCE.REPORTING.RECONCILIATION",
)
CHURN_MODEL_ERROR = Failure(
    message="Input X contains NaN.\nLogisticRegression does not accept missing values encoded as NaN natively. "
    "For supervised learning, you might want to consider sklearn.ensemble.HistGradientBoostingClassifier and "
    "Regressor which accept missing values encoded as NaNs natively.",
    frames=(
        *PYTHON_TASK_FRAMES,
        "/opt/airflow/dags/ml_customer_features.py:121:train_churn_model:"
        "model = LogisticRegression(max_iter=500).fit(frame[FEATURES], frame['CHURNED'])",
        "sklearn/utils/validation.py:169:_assert_all_finite:raise ValueError(msg_err)",
    ),
    exception="ValueError: Input X contains NaN.",
    tries=99,
)
S3_SLOWDOWN = Failure(
    message="An error occurred (SlowDown) when calling the PutObject operation (reached max retries: 4): "
    "Please reduce your request rate.",
    frames=(
        "airflow/providers/amazon/aws/transfers/sql_to_s3.py:246:execute:"
        "s3_conn.load_file(filename=tmp_file.name, key=object_key, bucket_name=self.s3_bucket, replace=True)",
        "airflow/providers/amazon/aws/hooks/s3.py:1180:load_file:client.upload_file(",
        "botocore/client.py:1074:_make_api_call:raise error_class(parsed_response, operation_name)",
    ),
    exception="botocore.exceptions.ClientError: An error occurred (SlowDown) when calling the PutObject operation "
    "(reached max retries: 4): Please reduce your request rate.",
)
WORKER_EVICTED = Failure(
    message="Task received SIGTERM signal",
    frames=(
        "airflow/sdk/execution_time/task_runner.py:1188:_on_term:"
        'raise AirflowTaskTerminated("Task received SIGTERM signal")',
    ),
    exception="airflow.exceptions.AirflowTaskTerminated: Task received SIGTERM signal",
)


def scripted_failures(dag: Dag, story_day: int, logical: datetime) -> dict[str, Failure]:
    """The failures of one DAG run: the stories of the demo, and a few transient ones healed by a retry."""
    stories = {
        ("ingest_orders_db", PAYMENTS_TIMEOUT_DAY): {"load_payments": PAYMENTS_TIMEOUT},
        ("transform_staging", STAGING_DEADLOCK_DAY): {"stg_orders": STAGING_DEADLOCK},
        ("finance_reporting", RECONCILIATION_FAILURE_DAY): {"reconcile_payments": RECONCILIATION_ERROR},
        ("ml_customer_features", CHURN_MODEL_FAILURE_DAY): {"train_churn_model": CHURN_MODEL_ERROR},
    }
    failures = dict(stories.get((dag.dag_id, story_day), {}))
    if dag.dag_id == "crm_audience_sync" and (story_day, logical.hour) == CRM_THROTTLED:
        failures["export_audience_to_s3"] = S3_SLOWDOWN
    if failures or dag.retries == 0:
        return failures
    rng = random.Random(f"failures|{dag.namespace}|{dag.dag_id}|{logical.isoformat()}")
    for task in dag.tasks:
        if rng.random() < SPRINKLED_FAILURE_RATE:
            failures[task.task_id] = WORKER_EVICTED
    return failures


# --- Events ------------------------------------------------------------------------------------------


def facet(schema_url: str, **content) -> dict:
    return {**content, "_producer": PRODUCER, "_schemaURL": schema_url}


def iso(moment: datetime) -> str:
    return moment.isoformat()


def static_uuid(instant: datetime, data: str) -> str:
    """The provider's deterministic run ids: UUIDv7 of the logical date, the rest a hash of `data`."""
    return str(generate_static_uuid(instant=instant, data=data.encode()))


def dataset_facets(source: Table) -> dict:
    facets = {
        "dataSource": facet(
            f"{FACETS}1-0-1/DatasourceDatasetFacet.json#/$defs/DatasourceDatasetFacet",
            name=source.namespace,
            uri=source.namespace,
        ),
        "schema": facet(
            f"{FACETS}1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
            fields=[{"name": name, "type": type_, "fields": []} for name, type_ in source.columns],
        ),
    }
    if source.owners:
        facets["ownership"] = facet(
            f"{FACETS}1-0-1/OwnershipDatasetFacet.json#/$defs/OwnershipDatasetFacet",
            owners=[{"name": owner, "type": "MAINTAINER"} for owner in source.owners],
        )
    if source.description:
        facets["documentation"] = facet(
            f"{FACETS}1-1-0/DocumentationDatasetFacet.json#/$defs/DocumentationDatasetFacet",
            description=source.description,
            contentType="text/plain",
        )
    return facets


def _input_field(source: From, kind: str) -> dict:
    transformation = {"type": kind, "subtype": source.subtype, "masking": source.masking}
    if source.description:
        transformation["description"] = source.description
    return {
        "namespace": source.table.namespace,
        "name": source.table.name,
        "field": source.column,
        "transformations": [transformation],
    }


def column_lineage(write: Write) -> dict:
    return facet(
        f"{FACETS}1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet",
        fields={
            column: {"inputFields": [_input_field(source, "DIRECT") for source in sources]}
            for column, sources in write.fields.items()
        },
        dataset=[_input_field(source, "INDIRECT") for source in write.dataset],
    )


def input_dataset(source: Table, assertions: list[dict] | None = None) -> dict:
    item = {"namespace": source.namespace, "name": source.name, "facets": dataset_facets(source)}
    if assertions:
        item["inputFacets"] = {
            "dataQualityAssertions": facet(
                f"{FACETS}1-1-0/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet",
                assertions=assertions,
            )
        }
    return item


def output_dataset(write: Write, rng: random.Random | None = None) -> dict:
    """An output; with `rng`, the statistics a completed run reports."""
    facets = dataset_facets(write.table)
    if write.fields or write.dataset:
        facets["columnLineage"] = column_lineage(write)
    item = {"namespace": write.table.namespace, "name": write.table.name, "facets": facets}
    if rng is not None:
        rows = rng.randint(*write.rows)
        item["outputFacets"] = {
            "outputStatistics": facet(
                f"{FACETS}1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet",
                rowCount=rows,
                size=rows * rng.randint(90, 420),
            )
        }
    return item


def _nominal_time(logical: datetime) -> dict:
    return facet(
        f"{FACETS}1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet",
        nominalStartTime=iso(logical),
        nominalEndTime=iso(logical),
    )


def _processing_engine() -> dict:
    return facet(
        f"{FACETS}1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet",
        name="Airflow",
        openlineageAdapterVersion=ADAPTER_VERSION,
        version=AIRFLOW_VERSION,
    )


def _job_type(kind: str) -> dict:
    return facet(
        f"{FACETS}2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
        integration="AIRFLOW",
        jobType=kind,
        processingType="BATCH",
    )


def _error(failure: Failure) -> dict:
    return facet(
        f"{FACETS}1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
        message=failure.message,
        programmingLanguage="python",
        stackTrace=failure.stack_trace,
    )


def _event(event_type: str, moment: datetime, run: dict, job: dict, inputs=(), outputs=()) -> dict:
    return {
        "eventType": event_type,
        "eventTime": iso(moment),
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT_SCHEMA,
        "inputs": list(inputs),
        "outputs": list(outputs),
        "run": run,
        "job": job,
    }


@dataclass
class DagRun:
    """One DAG run being generated: what its task events share."""

    dag: Dag
    logical: datetime
    started: datetime
    run_id: str

    @property
    def airflow_run_id(self) -> str:
        return f"scheduled__{iso(self.logical)}"

    def dag_info(self) -> dict:
        dag = self.dag
        return {
            "dag_id": dag.dag_id,
            "description": dag.description,
            "fileloc": f"/opt/airflow/dags/{dag.dag_id}.py",
            "owner": dag.owner,
            "owner_links": {},
            "start_date": DAG_START_DATE,
            "tags": str(sorted(dag.tags)),
            "timetable": {"expression": dag.schedule, "timezone": "UTC", "interval": 0.0, "run_immediately": False},
            "timetable_summary": dag.schedule,
        }

    def dag_run_info(self, *, ended: datetime | None = None) -> dict:
        info = {
            "conf": {},
            "dag_id": self.dag.dag_id,
            "data_interval_end": iso(self.logical),
            "data_interval_start": iso(self.logical),
            "logical_date": iso(self.logical),
            "run_after": iso(self.logical),
            "run_id": self.airflow_run_id,
            "run_type": "scheduled",
            "start_date": iso(self.started),
        }
        if ended is not None:
            info["end_date"] = iso(ended)
            info["duration"] = round((ended - self.started).total_seconds(), 6)
        return info

    def parent(self, job_name: str | None = None, run_id: str | None = None) -> dict:
        """The `parent` facet: the DAG run, or (for hook-level queries) the task run; `root` is the DAG run."""
        root = {"job": {"name": self.dag.dag_id, "namespace": self.dag.namespace}, "run": {"runId": self.run_id}}
        return facet(
            f"{FACETS}1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet",
            job={"namespace": self.dag.namespace, "name": job_name or self.dag.dag_id},
            run={"runId": run_id or self.run_id},
            root=root,
        )

    def dag_job_facets(self, *, with_structure: bool) -> dict:
        dag = self.dag
        facets = {
            "documentation": facet(
                f"{FACETS}1-1-0/DocumentationJobFacet.json#/$defs/DocumentationJobFacet",
                description=dag.doc,
                contentType="text/markdown",
            ),
            "ownership": facet(
                f"{FACETS}1-0-1/OwnershipJobFacet.json#/$defs/OwnershipJobFacet", owners=[{"name": dag.owner}]
            ),
            "tags": self.tags(),
            "jobType": _job_type("DAG"),
        }
        if with_structure:
            facets["airflow"] = facet(
                f"{CORE}JobFacet",
                taskGroups={},
                taskTree={},
                tasks={
                    task.task_id: {
                        "downstream_task_ids": dag.downstream(task.task_id),
                        "emits_ol_events": True,
                        "is_setup": False,
                        "is_teardown": False,
                        "operator": task.operator,
                        "ui_color": "#fff",
                        "ui_fgcolor": "#000",
                        "ui_label": task.task_id,
                    }
                    for task in dag.tasks
                },
            )
        return facets

    def tags(self) -> dict:
        return facet(
            f"{FACETS}1-0-0/TagsJobFacet.json#/$defs/TagsJobFacet",
            tags=[{"key": tag, "value": tag, "source": "AIRFLOW"} for tag in sorted(self.dag.tags)],
        )


def _operator_class(path: str) -> str:
    return path.rsplit(".", 1)[-1]


def _task_try_events(
    run: DagRun, task: Task, try_number: int, start: datetime, end: datetime, failure: Failure | None, rng
) -> list[dict]:
    dag = run.dag
    task_run_id = static_uuid(run.logical, f"{dag.namespace}.{dag.dag_id}.{task.task_id}.{try_number}.-1")
    job_name = f"{dag.dag_id}.{task.task_id}"
    since, until = iso(run.logical - timedelta(days=1)), iso(run.logical)
    log_url = (
        f"{AIRFLOW_URLS[dag.namespace]}/dags/{dag.dag_id}/runs/{quote(run.airflow_run_id, safe='')}"
        f"/tasks/{task.task_id}?try_number={try_number}"
    )

    def airflow_facet(duration: float | None) -> dict:
        task_instance = {"log_url": log_url, "map_index": -1, "try_number": try_number}
        if duration is not None:
            task_instance["duration"] = round(duration, 3)
        return facet(
            f"{CORE}RunFacet",
            dag=run.dag_info(),
            dagRun=run.dag_run_info(),
            # Provider 2.20 sends no `pool` and the backoff flag as an integer, unlike its own facet schema.
            taskInstance=task_instance,
            task={
                "depends_on_past": False,
                "downstream_task_ids": str(dag.downstream(task.task_id)),
                "executor_config": {},
                "ignore_first_depends_on_past": False,
                "inlets": "[]",
                "mapped": False,
                "multiple_outputs": False,
                "operator_class": _operator_class(task.operator),
                "operator_class_path": task.operator,
                "outlets": "[]",
                "owner": dag.owner,
                "priority_weight": 1,
                "queue": "default",
                "retries": dag.retries,
                "retry_exponential_backoff": 0,
                "task_id": task.task_id,
                "trigger_rule": "all_success",
                "upstream_task_ids": str(sorted(task.upstream)),
                "wait_for_downstream": False,
                "wait_for_past_depends_before_skipping": False,
            },
            taskUuid=task_run_id,
        )

    job_facets = {"jobType": _job_type("TASK")}
    job_facets["ownership"] = facet(
        f"{FACETS}1-0-1/OwnershipJobFacet.json#/$defs/OwnershipJobFacet", owners=[{"name": dag.owner}]
    )
    job_facets["tags"] = run.tags()
    if task.doc:
        job_facets["documentation"] = facet(
            f"{FACETS}1-1-0/DocumentationJobFacet.json#/$defs/DocumentationJobFacet",
            description=task.doc,
            contentType="text/markdown",
        )
    if task.sql:
        job_facets["sql"] = facet(
            f"{FACETS}1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet",
            query=task.sql.format(since=since, until=until),
            dialect=task.dialect,
        )
    if task.source:
        job_facets["sourceCode"] = facet(
            f"{FACETS}1-0-1/SourceCodeJobFacet.json#/$defs/SourceCodeJobFacet",
            language="python",
            sourceCode=task.source,
        )
    job = {"namespace": dag.namespace, "name": job_name, "facets": job_facets}

    reads = [input_dataset(t, task.checks.get(t.name)) for t in task.reads]
    planned = [output_dataset(w) for w in task.writes]
    start_run = {
        "runId": task_run_id,
        "facets": {
            "parent": run.parent(),
            "airflow": airflow_facet(None),
            "nominalTime": _nominal_time(run.logical),
            "processing_engine": _processing_engine(),
        },
    }
    events = [
        _event("START", start, start_run, job, *(([], []) if task.hook_lineage else (reads, planned))),
    ]

    # Hook-level queries run inside the task, one after the other.
    query_inputs, query_outputs, failed_query = [], [], False
    for number, query in enumerate(task.queries, start=1):
        slot = (end - start) / (len(task.queries) + 1)
        q_start = start + slot * (number - 0.5)
        q_end = q_start + slot * rng.uniform(0.3, 0.9)
        fails = failure is not None and failure.query_writing in {w.table.name for w in query.writes}
        query_failure = failure if fails else None
        events += _query_events(
            run, task, job_name, task_run_id, try_number, number, query, q_start, q_end, query_failure, rng
        )
        if fails:
            failed_query = True
            break
        query_inputs += [input_dataset(t) for t in query.reads]
        query_outputs += [output_dataset(w, rng) for w in query.writes]

    end_facets = {"parent": run.parent(), "airflow": airflow_facet((end - start).total_seconds())}
    if failure is None:
        end_facets["processing_engine"] = _processing_engine()
        outputs = [output_dataset(w, rng) for w in task.writes] + query_outputs
        events.append(
            _event("COMPLETE", end, {"runId": task_run_id, "facets": end_facets}, job, reads + query_inputs, outputs)
        )
    else:
        end_facets = {"errorMessage": _error(failure), **end_facets}
        end_facets["nominalTime"] = _nominal_time(run.logical)
        end_facets["processing_engine"] = _processing_engine()
        inputs, outputs = ([], []) if task.hook_lineage else (reads, planned)
        if failed_query:
            inputs, outputs = query_inputs, query_outputs
        events.append(_event("FAIL", end, {"runId": task_run_id, "facets": end_facets}, job, inputs, outputs))
    return events


def _query_events(
    run: DagRun,
    task: Task,
    task_job: str,
    task_run_id: str,
    try_number: int,
    number: int,
    query: Query,
    start: datetime,
    end: datetime,
    failure: Failure | None,
    rng,
) -> list[dict]:
    dag = run.dag
    name = f"{task_job}.query.{number}"
    run_id = static_uuid(start, f"{dag.namespace}.{dag.dag_id}.{task.task_id}.{try_number}.query.{number}")
    job = {
        "namespace": dag.namespace,
        "name": name,
        "facets": {
            "jobType": _job_type("QUERY"),
            "sql": facet(f"{FACETS}1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet", query=query.sql, dialect=query.dialect),
        },
    }
    facets = {"parent": run.parent(task_job, task_run_id), "processing_engine": _processing_engine()}
    if query.dialect == "snowflake":
        query_id = static_uuid(start, f"snowflake-query.{run_id}")
        facets["externalQuery"] = facet(
            f"{FACETS}1-0-2/ExternalQueryRunFacet.json#/$defs/ExternalQueryRunFacet",
            externalQueryId=f"01{query_id[2:]}",
            source=SNOWFLAKE,
        )
    reads = [input_dataset(t) for t in query.reads]
    planned = [output_dataset(w) for w in query.writes]
    start_event = _event("START", start, {"runId": run_id, "facets": facets}, job, reads, planned)
    if failure is not None:
        end_facets = {"errorMessage": _error(failure), **facets}
        return [start_event, _event("FAIL", end, {"runId": run_id, "facets": end_facets}, job, reads, [])]
    outputs = [output_dataset(w, rng) for w in query.writes]
    return [start_event, _event("COMPLETE", end, {"runId": run_id, "facets": facets}, job, reads, outputs)]


def dag_run_events(dag: Dag, logical: datetime, story_day: int) -> list[dict]:
    """Every event of one DAG run, its tasks, their retries and hook-level queries, in emission order."""
    rng = random.Random(f"{dag.namespace}|{dag.dag_id}|{logical.isoformat()}")
    started = logical + timedelta(seconds=rng.uniform(0.8, 4.0))
    run = DagRun(dag, logical, started, static_uuid(logical, f"{dag.namespace}.{dag.dag_id}.0"))
    failures = scripted_failures(dag, story_day, logical)

    task_events: list[dict] = []
    states: dict[str, str] = {}
    ends: dict[str, datetime] = {}
    durations: dict[str, float] = {}
    for task in dag.tasks:  # declared in dependency order
        if any(states[u] != "success" for u in task.upstream):
            states[task.task_id] = "upstream_failed"
            continue
        start = max((ends[u] for u in task.upstream), default=started) + timedelta(seconds=rng.uniform(1.0, 6.0))
        failure = failures.get(task.task_id)
        for try_number in range(1, dag.retries + 2):
            fails = failure is not None and try_number <= failure.tries
            seconds = rng.uniform(*task.seconds) * (rng.uniform(0.1, 0.6) if fails else 1.0)
            end = start + timedelta(seconds=seconds)
            task_events += _task_try_events(run, task, try_number, start, end, failure if fails else None, rng)
            states[task.task_id], ends[task.task_id] = ("failed" if fails else "success"), end
            durations[task.task_id] = round(seconds, 3)
            if not fails:
                break
            start = end + RETRY_DELAY + timedelta(seconds=rng.uniform(0.5, 3.0))

    ended = max(ends.values(), default=started) + timedelta(seconds=rng.uniform(0.5, 3.0))
    failed = "failed" in states.values()
    start_event = _event(
        "START",
        started,
        {
            "runId": run.run_id,
            "facets": {
                "airflowDagRun": facet(f"{CORE}RunFacet", dag=run.dag_info(), dagRun=run.dag_run_info()),
                "nominalTime": _nominal_time(logical),
                "processing_engine": _processing_engine(),
            },
        },
        {"namespace": dag.namespace, "name": dag.dag_id, "facets": run.dag_job_facets(with_structure=True)},
    )
    end_facets = {
        "airflowState": facet(
            f"{CORE}RunFacet",
            dagRunState="failed" if failed else "success",
            tasksState={task.task_id: states[task.task_id] for task in dag.tasks},
            tasksDuration=durations,
        ),
        "airflowDagRun": facet(f"{CORE}RunFacet", dag=run.dag_info(), dagRun=run.dag_run_info(ended=ended)),
        "nominalTime": _nominal_time(logical),
        "processing_engine": _processing_engine(),
    }
    if failed:
        end_facets = {
            "errorMessage": facet(
                f"{FACETS}1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
                message="task_failure",
                programmingLanguage="python",
            ),
            **end_facets,
        }
    end_event = _event(
        "FAIL" if failed else "COMPLETE",
        ended,
        {"runId": run.run_id, "facets": end_facets},
        {"namespace": dag.namespace, "name": dag.dag_id, "facets": run.dag_job_facets(with_structure=False)},
    )
    return [start_event, *task_events, end_event]


def history_days(*, base: datetime, days: int) -> Iterator[date]:
    for offset in range(days, 0, -1):
        yield (base - timedelta(days=offset)).date()


def demo_events(*, base: datetime, days: int = DEFAULT_DAYS, first_day: date | None = None) -> list[dict]:
    """The estate's events of the `days` days before `base` (a UTC midnight), in the order Airflow sends them.

    `first_day` is the first day of the demo's history, from which the stories are counted; by default the
    first of these days. A demo extended later passes the first day it started with, so days generated
    again come out the same.
    """
    first_day = first_day or (base - timedelta(days=days)).date()
    events = []
    for day in history_days(base=base, days=days):
        story_day = (day - first_day).days
        for dag in build_estate(Era.of(story_day)):
            for logical in dag.logical_dates(day):
                events += dag_run_events(dag, logical, story_day)
    events.sort(key=lambda event: datetime.fromisoformat(event["eventTime"]))
    return events


def utc_midnight(moment: datetime | None = None) -> datetime:
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return datetime.combine(moment.date(), time(), tzinfo=UTC)


# --- What the demo's stewards have said ------------------------------------------------------------------

# Steward annotations (not events: people type them). load_demo applies them as a steward's edit would, so the
# pages and the explorer show classifications next to what producers report.
STEWARD_NOTES: list[dict] = [
    {
        "kind": "dataset",
        "namespace": ORDERS_DB,
        "name": "orders.public.customers",
        "changes": {
            "classifications": ["PII", "GDPR"],
            "fields": {
                "email": {"classifications": ["PII"]},
                "phone": {"classifications": ["PII"]},
                "date_of_birth": {"classifications": ["PII"]},
            },
        },
    },
    {
        "kind": "dataset",
        "namespace": WAREHOUSE,
        "name": "analytics.marts.dim_customers",
        "changes": {
            "classifications": ["PII"],
            "tags": ["gold", "customer-360"],
            "owners": [{"name": "user:dana@acme.example", "type": "STEWARD"}],
            "fields": {"email": {"classifications": ["PII"]}, "phone": {"classifications": ["PII"]}},
        },
    },
    {
        "kind": "dataset",
        "namespace": ORDERS_DB,
        "name": "orders.public.payments",
        "changes": {"classifications": ["PCI"], "fields": {"iban": {"classifications": ["PII", "PCI"]}}},
    },
]
