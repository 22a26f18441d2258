"""The export form: the viewer's filters travel beside it as their own arguments."""

from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField

FORMAT_CHOICES = [SelectChoice("csv", "CSV"), SelectChoice("ndjson", "NDJSON")]


class ExportForm(FlaskForm):
    """The file format of a new export (and the CSRF token)."""

    format = SelectField("Format", choices=FORMAT_CHOICES, default="csv")
