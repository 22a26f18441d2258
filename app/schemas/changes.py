"""What changed from one schema version to the next, as lines a person can read."""

from dataclasses import dataclass

# Keywords the field rows already describe; a change to any other is reported by name.
DESCRIBED_FIELD_KEYWORDS = {"type"}
DESCRIBED_SCHEMA_KEYWORDS = {"type", "properties", "required"}


@dataclass(frozen=True)
class Change:
    """One line of a diff: ``before <code>name</code> after``, marked added/removed/changed."""

    kind: str
    before: str
    name: str | None = None
    after: str = ""


def version_changes(old, new):
    """The changes from definition ``old`` to definition ``new`` (both plain dicts)."""
    old_targets = {t["type"]: t.get("metadata") for t in old["targets"]}
    new_targets = {t["type"]: t.get("metadata") for t in new["targets"]}
    changes = []
    for kind in new_targets:
        if kind not in old_targets:
            changes.append(Change("added", "Target type", kind))
    for kind in old_targets:
        if kind not in new_targets:
            changes.append(Change("removed", "Target type", kind))
    for kind, schema in new_targets.items():
        changes.extend(metadata_changes(f"“{kind}” target metadata", old_targets.get(kind), schema))
    changes.extend(
        metadata_changes(
            "Actor metadata",
            old.get("actor", {}).get("metadata"),
            new.get("actor", {}).get("metadata"),
        )
    )
    changes.extend(metadata_changes("Event metadata", old.get("metadata"), new.get("metadata")))
    return changes


def metadata_changes(scope, old, new):
    """How one metadata JSON Schema changed (``None`` means not validated)."""
    if old is None and new is None:
        return []
    if old is None:
        return [Change("added", f"{scope} is now validated"), *_field_changes(scope, {}, new)]
    if new is None:
        return [Change("removed", f"{scope} is no longer validated")]
    changes = _field_changes(scope, old, new)
    keywords = _changed_keywords(old, new, DESCRIBED_SCHEMA_KEYWORDS)
    if keywords:
        changes.append(
            Change("changed", f"{scope}: JSON Schema keywords changed:", ", ".join(keywords))
        )
    return changes


def _field_changes(scope, old, new):
    old_fields, new_fields = old.get("properties", {}), new.get("properties", {})
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    changes = []
    for key, spec in new_fields.items():
        if key not in old_fields:
            changes.append(
                Change("added", f"{scope} field", key, f"({describe(spec, key in new_required)})")
            )
    for key in old_fields:
        if key not in new_fields:
            changes.append(Change("removed", f"{scope} field", key))
    for key, spec in new_fields.items():
        if key not in old_fields:
            continue
        details = []
        before, after = old_fields[key], spec
        if before.get("type") != after.get("type"):
            details.append(f"{before.get('type')} → {after.get('type')}")
        if (key in old_required) != (key in new_required):
            details.append("now required" if key in new_required else "now optional")
        keywords = _changed_keywords(before, after, DESCRIBED_FIELD_KEYWORDS)
        if keywords:
            details.append(f"rules changed: {', '.join(keywords)}")
        if details:
            changes.append(Change("changed", f"{scope} field", key, f"({'; '.join(details)})"))
    return changes


def describe(spec, required):
    """A field in a few words: ``string, required``."""
    return f"{spec.get('type', 'any type')}, {'required' if required else 'optional'}"


def _changed_keywords(old, new, described):
    names = (set(old) | set(new)) - described
    return sorted(name for name in names if old.get(name) != new.get(name))
