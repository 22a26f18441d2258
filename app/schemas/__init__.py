"""Schemas: which actions an organization's applications may emit, and their targets."""
