"""Retention: how long an organization keeps its events."""
