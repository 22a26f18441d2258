"""Ingestion: the event writer that stores the API's accepted events with group commit
(in each server process, or in a process of its own), and idempotency keys."""
