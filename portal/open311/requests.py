"""Service requests: list, one, post, and tokens."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from flask import abort, current_app, request
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from portal.extensions import db
from portal.models import ApiKey, utcnow
from portal.open311 import bp
from portal.open311.formats import answer, errors
from portal.open311.limits import per_address, per_key
from portal.services import apikeys, open311, open311_intake
from portal.services.photos import store_for_app
from portal.web import public_url_for

# The file fields a photo may come in: the spec's media, and FixMyStreet's photo1, photo2 ...
PHOTO_FIELD = re.compile(r"^(media|photo\d{1,2})$")
UPDATES_ARGUMENTS = ("start_date", "end_date", "page", "page_size")


def photo_url(sha256: str) -> str:
    """Return the public address of a photo."""
    return public_url_for("public.photo", sha256=sha256, variant="full")


def with_next_link(response: Response, more: bool, page: int) -> Response:
    """Say that an answer was cut at its page size: a Link header to the next page, built
    from PUBLIC_URL and the same arguments with the next page number."""
    if more:
        args = request.args.to_dict(flat=False)
        args["page"] = [str(page + 1)]
        url = current_app.config["PUBLIC_URL"] + request.path + "?" + urlencode(args, doseq=True)
        response.headers["Link"] = f'<{url}>; rel="next"'
    return response


def _extensions() -> bool:
    return (request.args.get("extensions") or "").lower() == "true"


def _viewer() -> ApiKey | None:
    """Return the live API key a reader sent, if any: its own cases show their account_id."""
    return apikeys.verify(db.session, request.args.get("api_key", ""))


@bp.route("/requests.<any(json, xml):fmt>")
@per_address
def requests_list(fmt: str) -> Response:
    """List public cases by the spec's filters (90 days, at most 1000, paged)."""
    try:
        filters = open311.read_filters(request.args.to_dict(), utcnow())
    except open311.BadArguments as bad:
        return errors(fmt, 400, bad.problems)
    found, more = open311.cut(open311.find_requests(db.session, filters), filters.page_size)
    viewer = _viewer()
    listed = [open311.request_fields(c, photo_url, _extensions(), viewer) for c in found]
    return with_next_link(answer(fmt, listed, "service_requests"), more, filters.page)


@bp.route("/requests/<service_request_id>.<any(json, xml):fmt>")
@per_address
def request_one(service_request_id: str, fmt: str) -> Response:
    """Show one public case, wrapped as a list as the spec says."""
    case = open311.public_case(db.session, service_request_id) or abort(404)
    fields = open311.request_fields(case, photo_url, _extensions(), _viewer())
    return answer(fmt, [fields], "service_requests")


@bp.route("/requests.<any(json, xml):fmt>", methods=["POST"])
@per_address
@per_key
def request_post(fmt: str) -> Response:
    """Open a case for another system; answer its number as service_request_id."""
    now = utcnow()
    try:
        key = open311_intake.authenticate(db.session, request.values.get("api_key", ""), now)
    except open311_intake.Forbidden:
        return errors(fmt, 403, [_("A valid api_key is required.")])
    posted = open311_intake.Posted(
        form=request.form.to_dict(flat=False),
        files=[
            (f.filename or "media", f.stream, f.mimetype)
            for name, f in request.files.items(multi=True)
            if f and PHOTO_FIELD.match(name)
        ],
    )
    store = store_for_app()
    try:
        case = open311_intake.post(
            db.session, key, posted, store, now, str(get_locale()), request.remote_addr or ""
        )
    except open311_intake.UnknownService:
        db.session.commit()  # the key's use is counted even when the request is refused
        return errors(fmt, 404, ["service_code: " + _("No such service is offered.")])
    except open311.BadArguments as bad:
        db.session.commit()
        return errors(fmt, 400, bad.problems)
    db.session.commit()
    notice = _("Received as case %(number)s.", number=case.number)
    listed = [
        {
            "service_request_id": case.number,
            "service_notice": notice,
            "account_id": case.account_id or None,
        }
    ]
    return answer(fmt, listed, "service_requests", 201)


@bp.route("/tokens/<token>.<any(json, xml):fmt>")
@per_address
def token(token: str, fmt: str) -> Response:
    """Answer the request a token stands for: requests are opened at once, so a token is
    the case number the POST answered."""
    case = open311.public_case(db.session, token) or abort(404)
    return answer(fmt, [{"service_request_id": case.number, "token": token}], "service_requests")
