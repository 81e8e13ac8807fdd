"""The jurisdiction_id argument: checked against the ids this endpoint answers for."""

from __future__ import annotations

from flask import current_app, request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from portal.open311 import bp
from portal.open311.formats import errors, fmt_of_path


def configured() -> list[str]:
    """Return the jurisdiction ids of the OPEN311_JURISDICTION setting."""
    text = current_app.config.get("OPEN311_JURISDICTION") or ""
    return [part.strip() for part in text.split(",") if part.strip()]


@bp.before_request
def check_jurisdiction() -> Response | None:
    """Answer 404 for a jurisdiction this endpoint does not serve, and 400 for a missing one
    when it serves several (with one, the argument is optional, as the spec says)."""
    if request.endpoint == "open311.openapi":
        return None
    given = (request.values.get("jurisdiction_id") or "").strip()
    known = configured()
    if given and given not in known:
        return errors(fmt_of_path(), 404, ["jurisdiction_id: " + _("No such jurisdiction.")])
    if not given and len(known) > 1:
        return errors(
            fmt_of_path(),
            400,
            ["jurisdiction_id: " + _("Required: one of %(ids)s.", ids=", ".join(known))],
        )
    return None
