"""Errors of the Open311 API, in its own format whichever the cause."""

from __future__ import annotations

from flask import Response
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from portal.extensions import db
from portal.open311 import bp
from portal.open311.formats import errors, fmt_of_path


def describe(error: HTTPException) -> str:
    """Return what an HTTP error means to an API client."""
    messages = {
        400: _("The request could not be understood."),
        403: _("A valid api_key is required."),
        404: _("No such resource."),
        405: _("This method is not allowed here."),
        413: _("The upload is too large."),
        429: _("Too many requests. Please wait a moment and try again."),
    }
    given = getattr(error, "message", None)  # the reason of a request refused before the API
    if given:
        return str(given)
    return messages.get(error.code or 500, _("Something went wrong on our side."))


def http_error(error: HTTPException) -> Response:
    """Answer an HTTP error (404, 405, 429 ...) in the Open311 error format."""
    code = error.code or 500
    if code >= 500:
        db.session.rollback()
    return errors(fmt_of_path(), code, [describe(error)])


bp.register_error_handler(HTTPException, http_error)
