"""Marquez-compatible reads: /api/v1/namespaces, datasets, jobs, runs, search and raw events, in Marquez's JSON.

Scripts and tools written for Marquez (marquez-python, the Marquez web UI) read Tributary unchanged. The shapes and
field names follow Marquez's models (marquez.service.models) and its resources' defaults; Tributary's extras are
added as extra fields, never by renaming Marquez's.
"""
