"""Showing a service's refusal inside the form that asked for it."""


def show_service_error(form, error):
    """Attach a ServiceError to the field it names, or to the form as a whole."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)
