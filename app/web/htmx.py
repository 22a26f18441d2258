"""What a view needs to know about htmx requests, and the headers it answers with."""

from flask import flash, make_response, redirect, request
from flask_login import login_url

from app.extensions import login_manager


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


def send_to_sign_in():
    """Flask-Login's answer to a visitor who must sign in first.

    A plain request is redirected to the sign-in page as usual. An htmx request (a
    partial after the session expired) would follow that redirect and swap the sign-in
    page into the middle of the current one, so it gets ``HX-Redirect`` instead: the
    whole window goes to the sign-in page, which then returns to the current page.
    """
    flash(login_manager.login_message, login_manager.login_message_category)
    if request.headers.get("HX-Request") != "true":
        return redirect(login_url(login_manager.login_view, next_url=request.url))
    # Back to the page the visitor was on, not to the partial's URL.
    page = request.headers.get("HX-Current-URL") or request.url
    response = make_response("", 401)
    response.headers["HX-Redirect"] = login_url(login_manager.login_view, next_url=page)
    return response
