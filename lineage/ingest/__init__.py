"""Ingestion: the HTTP door (single events, batches), quarantine of refused events, and replay."""
