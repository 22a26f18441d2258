"""Forms for actions and their schema versions.

The forms build the very body the API takes (``{"targets": [...], "actor"?, "metadata"?}``)
and hand it to the same service; the service's problems, whose ``field`` is a dotted path
in that body, are then shown beside the inputs they came from.
"""

import json
import re

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.form import BaseForm
from wtforms.validators import DataRequired, Regexp

from app.ledger.shape import METADATA_KEY_PATTERN
from app.schemas.metadata_fields import MetadataField, fields_from_schema, schema_from_fields

TYPE_CHOICES = [
    SelectChoice("string", "Text"),
    SelectChoice("number", "Number"),
    SelectChoice("boolean", "True / false"),
]
MODE_CHOICES = [SelectChoice("fields", "Fields"), SelectChoice("json", "JSON Schema")]
KEY_MESSAGE = "Use 1 to 40 letters, digits, _ or -."


def strip(value):
    """Surrounding spaces are never meant: drop them."""
    return value.strip() if isinstance(value, str) else value


class MetadataFieldForm(Form):
    """One metadata key: its name, the type of its value, and whether it must be present."""

    key = StringField(
        "Key",
        filters=[strip],
        validators=[
            DataRequired("Enter a key, or remove this row."),
            Regexp(METADATA_KEY_PATTERN, message=KEY_MESSAGE),
        ],
    )
    type = SelectField("Type", choices=TYPE_CHOICES, default="string")
    required = BooleanField("Required")


class MetadataForm(Form):
    """How one metadata object is validated: as rows of fields, or by a pasted JSON Schema.

    No rows means not validated. Only the chosen mode's inputs are checked; the other's
    are kept as typed, so switching back and forth loses nothing.
    """

    mode = RadioField("Define with", choices=MODE_CHOICES, default="fields")
    rows = FieldList(FormField(MetadataFieldForm))
    json_schema = TextAreaField("JSON Schema", filters=[strip])

    def validate(self, extra_validators=None):
        """Check the chosen mode's inputs."""
        self.form_errors = []
        if not self.mode.validate(self):
            return False
        if self.mode.data == "json":
            return self.json_schema.validate(self) and self._check_json()
        rows_valid = self.rows.validate(self)
        return self._check_duplicate_keys() and rows_valid

    def _check_json(self):
        if not self.json_schema.data:
            self.json_schema.errors.append("Paste a JSON Schema, or choose Fields.")
            return False
        try:
            json.loads(self.json_schema.data)
        except json.JSONDecodeError as error:
            self.json_schema.errors.append(
                f"This is not valid JSON: {error.msg} at line {error.lineno}, column "
                f"{error.colno}. Keys and strings take double quotes; "
                "no comma after the last item."
            )
            return False
        return True

    def _check_duplicate_keys(self):
        seen = set()
        for row in self.rows:
            key = row.form.key
            if key.data and key.data in seen:
                key.errors.append(f"“{key.data}” is listed twice; list each key once.")
            seen.add(key.data)
        return not any(row.form.key.errors for row in self.rows)

    def schema(self):
        """The JSON Schema this section stands for, or ``None`` (metadata not validated)."""
        if self.mode.data == "json":
            try:
                return json.loads(self.json_schema.data or "null")
            except json.JSONDecodeError:
                return None  # reported by validate(); nothing to check further
        fields = [
            MetadataField(row.key.data, row.type.data, bool(row.required.data))
            for row in (entry.form for entry in self.rows)
            if row.key.data
        ]
        return schema_from_fields(fields)


class TargetForm(Form):
    """A target type the action takes, with optional metadata validation."""

    type = StringField(
        "Target type",
        filters=[strip],
        validators=[DataRequired("Enter a target type, or remove this one.")],
    )
    metadata = FormField(MetadataForm)


class VersionForm(FlaskForm):
    """A schema version: target types, and how actor and event metadata are validated."""

    targets = FieldList(FormField(TargetForm), min_entries=1)
    actor = FormField(MetadataForm)
    metadata = FormField(MetadataForm)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.targets_errors = []

    @classmethod
    def for_definition(cls, definition):
        """The form filled in with a stored definition (the next version's starting point)."""
        return cls(
            formdata=None,
            data={
                "targets": [
                    {"type": t["type"], "metadata": metadata_data(t.get("metadata"))}
                    for t in definition["targets"]
                ],
                "actor": metadata_data(definition.get("actor", {}).get("metadata")),
                "metadata": metadata_data(definition.get("metadata")),
            },
        )

    def body(self):
        """The request body the API would take for this version."""
        targets = []
        for target in (entry.form for entry in self.targets):
            item = {"type": target.type.data or ""}
            schema = target.metadata.form.schema()
            if schema is not None:
                item["metadata"] = schema
            targets.append(item)
        body = {"targets": targets}
        actor = self.actor.form.schema()
        if actor is not None:
            body["actor"] = {"metadata": actor}
        event = self.metadata.form.schema()
        if event is not None:
            body["metadata"] = event
        return body

    def show_problems(self, problems):
        """Put each service problem beside its input (or at the top when it has none).

        Inputs that already show the form's own error keep just that one: the service
        would only say the same thing again in other words.
        """
        already = {id(field) for field in self._error_fields()}
        for problem in problems:
            field, message = self._locate(problem)
            if field is None:
                self.form_errors.append(message)
            elif field is self.targets:
                self.targets_errors.append(message)
            elif isinstance(field, BaseForm):
                field.form_errors.append(message)
            elif id(field) not in already:
                field.errors = [*field.errors, message]

    def _error_fields(self):
        for field in _inputs(self):
            if field.errors:
                yield field

    def _locate(self, problem):
        """The input a problem's dotted ``field`` points at, and the message to show there."""
        path, message = problem["field"], problem["message"]
        parts = path.split(".") if path else []
        if parts[:1] == ["action"]:
            return getattr(self, "name", None), message
        if parts[:1] == ["targets"]:
            if len(parts) == 1:
                return self.targets, message
            if not parts[1].isdigit() or int(parts[1]) >= len(self.targets.entries):
                return None, message
            target = self.targets.entries[int(parts[1])].form
            if parts[2:3] == ["metadata"]:
                section = target.metadata.form
                return _locate_in_section(section, ".".join(parts[:3]), path, message)
            prefix = ".".join(parts[:3]) if parts[2:3] == ["type"] else ".".join(parts[:2])
            return target.type, relative_message(message, prefix, "The target type")
        if parts[:1] == ["actor"]:
            return _locate_in_section(self.actor.form, "actor.metadata", path, message)
        if parts[:1] == ["metadata"]:
            return _locate_in_section(self.metadata.form, "metadata", path, message)
        return None, message


class NewActionForm(VersionForm):
    """A new action: its name and its first version."""

    name = StringField(
        "Action name",
        filters=[strip],
        validators=[DataRequired("Enter the name of the action, such as user.signed_in.")],
    )


def metadata_data(schema):
    """A metadata section's form data for a stored JSON Schema (rows when simple)."""
    if schema is None:
        return {"mode": "fields", "rows": []}
    fields = fields_from_schema(schema)
    if fields is None:
        return {"mode": "json", "rows": [], "json_schema": json.dumps(schema, indent=2)}
    return {
        "mode": "fields",
        "rows": [{"key": f.key, "type": f.type, "required": f.required} for f in fields],
    }


def _locate_in_section(section, prefix, path, message):
    """A problem inside one metadata section (a ``MetadataForm``): beside the JSON, on the
    row of its key, or else on the section itself."""
    if section.mode.data == "json":
        return section.json_schema, relative_message(message, prefix, "The schema")
    match = re.match(re.escape(prefix) + r"\.properties\.(.+)$", path)
    if match:
        rest = match.group(1)
        for row in (entry.form for entry in section.rows):
            key = row.key.data or ""
            if rest == key or rest.startswith(key + "."):
                return (row.type if rest.endswith(".type") else row.key), message
    return section, message


def relative_message(message, prefix, subject):
    """A message about the body's ``prefix`` said beside its input, where the path means
    nothing: ``metadata.type must be ...`` becomes ``type must be ...`` beside the
    event's schema; ``targets.1.type 'team' is ...`` becomes ``The target type 'team' is ...``.
    """
    if not message.startswith(prefix):
        return message
    rest = message[len(prefix) :]
    if rest.startswith("."):
        return rest[1:]
    return subject + rest


def _inputs(form):
    """Every input field of a form, nested ones included."""
    for field in form:
        if isinstance(field, FormField):
            yield from _inputs(field.form)
        elif isinstance(field, FieldList):
            for entry in field:
                yield from _inputs(entry.form) if isinstance(entry, FormField) else [entry]
        else:
            yield field
