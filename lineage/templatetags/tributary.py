"""Small template helpers for the pages: links to nodes and readable durations."""

from django import template

from .. import page_selectors as pages

register = template.Library()


@register.filter
def job_url(job) -> str:
    return pages.job_url(job.namespace.name, job.name)


@register.filter
def dataset_url(dataset) -> str:
    return pages.dataset_url(dataset.namespace.name, dataset.name)


@register.filter
def duration(milliseconds: int | None) -> str:
    if milliseconds is None:
        return "–"
    seconds = milliseconds / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
