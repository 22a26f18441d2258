"""What the event viewer and exports filter by: ``EventFilter``, the one query builder.

An ``EventFilter`` is parsed from request arguments, keeps a message for every argument
it could not use (shown beside its field), turns back into the same arguments for URLs,
and gives the SQL conditions of its filters. Paging through the matches is
app/events/pages.py; exports (app/exports/) stream the same conditions to a file.

Besides the viewer's form fields, it carries the export API's exact-match lists
(``actor_id``, ``actor_name``, ``target_types``): OR within one list, AND across filters.
"""

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import exists, func
from sqlalchemy.orm import aliased

from app.ledger import search
from app.ledger.models import Event, EventTarget
from app.ledger.shape import ACTION_PATTERN
from app.timestamps import BOUNDS_TEXT, as_utc, parse_bounded, utcnow

# The date range choices: (label, how far back from now); "custom" uses from/until.
RANGES = {
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
}
CUSTOM = "custom"
MAX_TEXT = 256
MAX_ACTIONS = 50
MAX_VALUES = 50  # per exact-match list
# The exact-match lists: URL argument -> attribute.
EXACT_LISTS = {"actor_id": "actor_ids", "actor_name": "actor_names", "target_types": "target_types"}


@dataclass(frozen=True)
class EventFilter:
    """The viewer's filters; every one is optional and they combine with AND."""

    range: str = ""  # "", one of RANGES, or CUSTOM
    start: datetime | None = None  # inclusive, UTC
    end: datetime | None = None  # exclusive, UTC
    actions: tuple = ()
    actor: str = ""  # prefix of the actor's id or name (case-sensitive)
    target_type: str = ""
    target_id: str = ""
    q: str = ""  # free text: a substring of the action, actor name or a target name
    actor_ids: tuple = ()  # any of these actor ids exactly
    actor_names: tuple = ()  # any of these actor names exactly
    target_types: tuple = ()  # a target of any of these types
    errors: dict = field(default_factory=dict, compare=False)  # argument -> message
    typed: dict = field(default_factory=dict, compare=False)  # from/until as typed

    @classmethod
    def from_args(cls, args, now=None):
        """Parse request arguments (a MultiDict); problems go to ``errors``, not exceptions."""
        now = now or utcnow()
        errors, typed = {}, {}
        range_ = args.get("range", "").strip()
        start = end = None
        if range_ in RANGES:
            start = now - RANGES[range_][1]
        elif range_ == CUSTOM:
            for name in ("from", "until"):
                typed[name] = args.get(name, "").strip()
            start = parse_time(typed["from"], "from", errors)
            end = parse_time(typed["until"], "until", errors)
            if start and end and start >= end:
                errors["until"] = "Must be later than From."
                end = None
        elif range_:
            errors["range"] = "Choose one of the listed ranges."
            range_ = ""
        actions = tuple(dict.fromkeys(a.strip() for a in args.getlist("action") if a.strip()))
        if any(not re.fullmatch(ACTION_PATTERN, a) for a in actions):
            errors["action"] = "Action names are letters, digits and . _ : - only."
            actions = tuple(a for a in actions if re.fullmatch(ACTION_PATTERN, a))
        if len(actions) > MAX_ACTIONS:
            errors["action"] = f"Choose at most {MAX_ACTIONS} actions."
            actions = actions[:MAX_ACTIONS]
        texts = {
            name: args.get(name, "").strip() for name in ("actor", "target_type", "target_id", "q")
        }
        for name, value in texts.items():
            if "\x00" in value:
                errors[name] = "Remove the NUL character."
                texts[name] = ""
            elif name == "q" and any(ord(character) < 32 for character in value):
                # Also keeps search_text's field separator out of searches.
                errors[name] = "Remove tabs, line breaks and other control characters."
                texts[name] = ""
            elif len(value) > MAX_TEXT:
                errors[name] = f"At most {MAX_TEXT} characters."
                texts[name] = ""
        if texts["q"] and len(texts["q"]) < search.MIN_LENGTH:
            errors["q"] = f"Type at least {search.MIN_LENGTH} characters."
            texts["q"] = ""
        lists = {
            attribute: exact_values(args.getlist(name), name, errors)
            for name, attribute in EXACT_LISTS.items()
        }
        return cls(
            range=range_,
            start=start,
            end=end,
            actions=actions,
            errors=errors,
            typed=typed,
            **texts,
            **lists,
        )

    def to_args(self):
        """The filter as URL arguments (only those in use), the inverse of ``from_args``."""
        args = {}
        if self.range:
            args["range"] = self.range
        if self.range == CUSTOM:
            for name, value in (("from", self.start), ("until", self.end)):
                if value is not None:
                    args[name] = format_time(value)
        if self.actions:
            args["action"] = list(self.actions)
        for name in ("actor", "target_type", "target_id", "q"):
            if getattr(self, name):
                args[name] = getattr(self, name)
        for name, attribute in EXACT_LISTS.items():
            if getattr(self, attribute):
                args[name] = list(getattr(self, attribute))
        return args

    def frozen(self, now=None):
        """The same filter with a relative range ("last 24 hours") made absolute.

        The start is rounded down and the end up to the second, so the frozen range
        covers at least what the relative one did at ``now``.
        """
        if self.range not in RANGES:
            return self
        now = now or utcnow()
        end = now.replace(microsecond=0)
        if now.microsecond:
            end += timedelta(seconds=1)
        start = (now - RANGES[self.range][1]).replace(microsecond=0)
        return self.narrowed_to(start, end)

    def summary(self):
        """The filters in use as ``(label, value)`` pairs, for people."""
        found = []
        if self.range in RANGES:
            found.append(("Date range", RANGES[self.range][0]))
        elif self.start is not None or self.end is not None:
            start, end = (
                format_time(moment).replace("T", " ") + " UTC" if moment else "…"
                for moment in (self.start, self.end)
            )
            span = f"{start} to {end} (exclusive)"
            found.append(("Date range", span))
        labels = (
            ("Action", self.actions),
            ("Actor starts with", self.actor),
            ("Actor id", self.actor_ids),
            ("Actor name", self.actor_names),
            ("Target type", self.target_type),
            ("Target type (any of)", self.target_types),
            ("Target id", self.target_id),
            ("Search", self.q),
        )
        for label, value in labels:
            if value:
                found.append((label, value if isinstance(value, str) else ", ".join(value)))
        return found

    def narrowed_to(self, start, end):
        """The same filter over a custom range (a chart bar's)."""
        return replace(self, range=CUSTOM, start=start, end=end, errors={}, typed={})

    def conditions(self, org_id, dialect, skip=()):
        """The SQL conditions on ``Event`` that select exactly the matching events.

        ``skip`` leaves out filters a query already applies another way (by the index it
        walks): "action", "actor", "target" or "q".
        """
        found = [Event.organization_id == org_id]
        if self.start is not None:
            found.append(Event.occurred_at >= self.start)
        if self.end is not None:
            found.append(Event.occurred_at < self.end)
        if self.actions and "action" not in skip:
            found.append(Event.action.in_(self.actions))
        if self.actor and "actor" not in skip:
            found.append(actor_prefix(self.actor))
        if (self.target_type or self.target_id) and "target" not in skip:
            found.append(
                exists().where(EventTarget.event_id == Event.id, *self.target_conditions())
            )
        if self.q and "q" not in skip:
            found.append(search.matches(self.q, dialect))
        if self.actor_ids:
            found.append(Event.actor_id.in_(self.actor_ids))
        if self.actor_names:
            found.append(Event.actor_name.in_(self.actor_names))
        if self.target_types:
            # Aliased: the query may itself walk event_targets (the viewer's target filter).
            target = aliased(EventTarget)
            found.append(
                exists().where(target.event_id == Event.id, target.type.in_(self.target_types))
            )
        return found

    def target_conditions(self, target=EventTarget):
        """Conditions on ``EventTarget`` (or an alias of it) for the target filters."""
        found = []
        if self.target_type:
            found.append(target.type == self.target_type)
        if self.target_id:
            found.append(target.target_id == self.target_id)
        return found


def actor_prefix(prefix):
    """The actor's id or name starts with ``prefix`` (case-sensitive, no wildcards)."""
    length = len(prefix)
    return (func.substr(Event.actor_id, 1, length) == prefix) | (
        func.substr(Event.actor_name, 1, length) == prefix
    )


def exact_values(values, name, errors):
    """The non-empty values of one exact-match list, without repeats; problems to ``errors``."""
    found = tuple(dict.fromkeys(value for value in values if value))
    if any("\x00" in value for value in found):
        errors[name] = "Remove the NUL character."
        return ()
    if any(len(value) > MAX_TEXT for value in found):
        errors[name] = f"At most {MAX_TEXT} characters each."
        return ()
    if len(found) > MAX_VALUES:
        errors[name] = f"At most {MAX_VALUES} values."
        return found[:MAX_VALUES]
    return found


TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")


def parse_time(value, name, errors):
    """A from/until value: ``datetime-local`` input (taken as UTC), a date, or ISO 8601."""
    if not value:
        return None
    parsers = [lambda v, p=pattern: datetime.strptime(v, p) for pattern in TIME_FORMATS]
    parsers.append(lambda v: datetime.fromisoformat(v.replace("Z", "+00:00")))
    for parse in parsers:
        try:
            return parse_bounded(parse, value)
        except ValueError as error:
            if BOUNDS_TEXT in str(error):
                errors[name] = f"Use a time {BOUNDS_TEXT}."
                return None
    errors[name] = "Use a date and time such as 2024-05-01T09:30 (UTC)."
    return None


def format_time(value):
    """A time as a ``datetime-local`` value in UTC (seconds, and their fraction, only when
    there are some: an export's range from the API keeps its milliseconds)."""
    value = as_utc(value)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return value.strftime("%Y-%m-%dT%H:%M:%S" if value.second else "%Y-%m-%dT%H:%M")
