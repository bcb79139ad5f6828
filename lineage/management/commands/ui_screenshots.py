from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from governance.management.commands.create_demo_users import demo_password
from lineage.demo import ORDERS_DB, WAREHOUSE
from lineage.models import Dataset

# (file, path, what to do on the page before the picture)
CUSTOMERS = f"dataset:{WAREHOUSE}:analytics.marts.dim_customers"
PAGES = [
    ("home.png", "/", "search"),
    ("dataset.png", f"/datasets/{WAREHOUSE}/analytics.marts.dim_customers", None),
    ("job.png", "/jobs/airflow-prod/ingest_orders_db.load_customers", None),
    ("job-runs.png", "/jobs/airflow-prod/ingest_orders_db.load_customers", "durations"),
    ("lineage.png", f"/lineage/?nodeId={quote(CUSTOMERS)}&depth=8", "graph"),
    ("lineage-dag.png", f"/lineage/?nodeId={quote(CUSTOMERS)}&depth=8&group=dag", "graph"),
    ("lineage-columns.png", f"/lineage/?nodeId={quote(CUSTOMERS)}&view=columns&depth=4", "graph"),
    ("impact.png", f"/impact/?nodeId={quote(f'dataset:{ORDERS_DB}:orders.public.customers')}", "graph"),
]


class Command(BaseCommand):
    help = (
        "Take a screenshot of each page of the steward's UI on the demo estate (load_demo and create_demo_users "
        "first), in Chromium at a laptop's 1440x900, into docs/screenshots/."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", default=str(Path(settings.BASE_DIR) / "docs" / "screenshots"))
        parser.add_argument("--base-url", help="An already running server (default: start one on this database).")

    def handle(self, *args, out: str, base_url: str | None, **options):
        from lineage.browser import chromium, log_in, wait_for_graph
        from lineage.uiserver import web_server

        if not Dataset.objects.filter(name="analytics.marts.dim_customers").exists():
            raise CommandError("the demo estate is not loaded: run `manage.py load_demo` first")
        if not get_user_model().objects.filter(username="steward").exists():
            call_command("create_demo_users", stdout=self.stdout)
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)

        def shoot(base: str) -> None:
            with chromium() as context:
                page = context.new_page()
                log_in(page, base, "steward", demo_password("steward"))
                for filename, path, action in PAGES:
                    page.goto(base + path)
                    if action == "search":
                        page.get_by_label("Search datasets, jobs and fields").fill("customer")
                        page.locator("#search-results a").first.wait_for()
                    elif action == "graph":
                        wait_for_graph(page)
                        page.wait_for_timeout(300)  # the zoom-in animation
                    elif action == "durations":
                        page.evaluate("document.getElementById('durations-h').scrollIntoView()")
                    page.screenshot(path=str(folder / filename))
                    self.stdout.write(f"{folder / filename}")

        if base_url:
            shoot(base_url.rstrip("/"))
        else:
            with web_server() as base:
                shoot(base)
