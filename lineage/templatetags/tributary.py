"""Small template helpers for the pages: links to nodes, links to the URLs events report, readable durations."""

import re

from django import template
from django.utils.html import conditional_escape, format_html

from lineage.read import pages

register = template.Library()

# What browsers drop before reading a URL (the WHATWG URL parser): tab and newline anywhere, C0 controls and spaces
# at either end. "java\tscript:…" and " javascript:…" are javascript: URLs to a browser, so the rule judges the
# URL as the browser will read it, and the link carries exactly what was judged.
_DROPPED_ANYWHERE = str.maketrans("", "", "\t\n\r")
_DROPPED_AT_ENDS = "".join(chr(c) for c in range(0x21))
# An absolute http(s) URL naming a host. static/js/links.js holds the same expression: keep the two alike.
_LINKABLE = re.compile(r"^https?://[^/\\?#\x00-\x20]", re.IGNORECASE)


def external_href(url: object) -> str | None:
    """The link target for a URL that came from outside (an event's facet, a dataset's source): the URL itself if
    it is absolute http or https, None for anything else, which the pages show as plain text.

    Anything else includes javascript:, data: and vbscript: URLs (they run script or show attacker-made pages),
    protocol-relative //host URLs and relative paths (an event has no business linking into Tributary itself).
    """
    if not isinstance(url, str):
        return None
    cleaned = url.translate(_DROPPED_ANYWHERE).strip(_DROPPED_AT_ENDS)
    return cleaned if _LINKABLE.match(cleaned) else None


@register.filter
def external_link(url: object) -> str:
    """A link to `url` when external_href accepts it, else the URL as text; escaped either way."""
    href = external_href(url)
    if href is None:
        return conditional_escape("" if url is None else url)
    return format_html('<a href="{}" rel="noopener noreferrer">{}</a>', href, url)


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


_NAME_SEPARATOR = re.compile(r"([./_:])")


@register.filter
def breakable(name: object) -> str:
    """A long dotted or slashed name (analytics.marts.fct_orders) that may break after its separators, not in the
    middle of a word, when a narrow screen cannot hold it on one line. Escaped first: names come from events."""
    from django.utils.safestring import mark_safe

    parts = _NAME_SEPARATOR.split(str(conditional_escape(name)))
    return mark_safe("".join(part + "<wbr>" if _NAME_SEPARATOR.fullmatch(part) else part for part in parts))
