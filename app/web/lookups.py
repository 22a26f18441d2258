"""What a view's URL names, or 404 Not Found."""

from flask import abort


def or_404(found):
    """``found``, what a service looked up for the view, or a 404 when it is ``None``.

    Services look things up within the organization, so another organization's is ``None``
    too: a 404, as if it did not exist.
    """
    if found is None:
        abort(404)
    return found
