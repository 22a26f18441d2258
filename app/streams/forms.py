"""The forms of Settings -> Log streams, built from each kind's settings (app/streams/kinds):
the kind's ``check`` decides what is valid, and its message lands on the field it names."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from app.streams.services import MAX_NAME, MAX_SECRET

START_CHOICES = [
    SelectChoice("beginning", "Every event the organization keeps, then new ones"),
    SelectChoice("now", "Only events from now on"),
]


def field_for(setting):
    """The form field of one setting."""
    options = {"description": setting.help, "default": setting.default}
    validators = [DataRequired()] if setting.required else [Optional()]
    if setting.type == "bool":
        return BooleanField(setting.label, **options)
    if setting.type == "int":
        return IntegerField(setting.label, validators=[Optional()], **options)
    if setting.type == "choice":
        choices = [SelectChoice(value, label) for value, label in setting.choices]
        return SelectField(setting.label, choices=choices, **options)
    if setting.type == "textarea":
        return TextAreaField(setting.label, validators=[Optional()], **options)
    return StringField(setting.label, validators=validators, **options)


def stream_form(kind, editing=False, **data):
    """A form for a new stream of ``kind`` (or, ``editing``, for changing one: the secret
    may then be left empty to keep it)."""

    class StreamForm(FlaskForm):
        name = StringField("Name", validators=[DataRequired(), Length(max=MAX_NAME)])

    for setting in kind.settings:
        setattr(StreamForm, setting.name, field_for(setting))
    if kind.secret_label and not kind.generates_secret:
        required = Optional() if editing else DataRequired()
        StreamForm.secret = PasswordField(
            kind.secret_label, validators=[required, Length(max=MAX_SECRET)]
        )
    if not editing:
        StreamForm.start = RadioField("Deliver", choices=START_CHOICES, default="beginning")
    return StreamForm(**data)


def settings_from(form, kind):
    """The kind's settings as the form holds them (empty text as ``""``)."""
    found = {}
    for setting in kind.settings:
        value = getattr(form, setting.name).data
        found[setting.name] = "" if value is None and setting.type != "int" else value
    return found
