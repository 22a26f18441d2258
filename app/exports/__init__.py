"""Exports of the event stream as CSV or NDJSON files."""
