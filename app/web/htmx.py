"""What a view needs to know about htmx requests, and the headers it answers with."""

from flask import request


def wants_partial():
    """True for an htmx request that swaps part of a page.

    A history restore (the back button after the page left htmx's cache) needs the
    whole page, like a first visit.
    """
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def vary_on_htmx(response):
    """The same URL answers a page or a partial: caches must key on ``HX-Request``."""
    response.vary.add("HX-Request")
    return response
