"""The ingestion benchmark's helpers (`python manage.py bench_ingest`): events, an HTTP load client, the floor
server. Not part of the app: nothing here is imported by `governance`, `lineage` or `compliance`."""
