from celery import shared_task


@shared_task(name="compliance.tasks.run_checks", ignore_result=True)
def run_checks_task() -> None:
    from compliance.services import run_checks

    run_checks(trigger="schedule")
