"""Content negotiation for views whose `format` parameter is their own."""

from rest_framework.negotiation import DefaultContentNegotiation


class FormatIsOurs(DefaultContentNegotiation):
    """For views where `format` chooses an export or report format (csv, jsonl, pdf), not DRF's renderer: always
    answer (and refuse) in JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
