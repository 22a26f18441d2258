"""Prefixed ULID identifiers (``org_01H...``), as the API contract uses them."""

from ulid import ULID


def new_id(prefix):
    """Return a fresh identifier: the prefix, an underscore and a ULID."""
    return f"{prefix}_{ULID()}"
