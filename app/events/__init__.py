"""Audit log events: storage, the viewer and its filters."""
