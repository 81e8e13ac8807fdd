"""Service requests: list, one, post, tokens, and the updates extension."""

from __future__ import annotations

from flask import abort, current_app, request
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from portal.extensions import db
from portal.models import utcnow
from portal.open311 import bp
from portal.open311.formats import answer, errors
from portal.open311.limits import per_address, per_key
from portal.services import open311, open311_intake
from portal.services.photos import PhotoStore
from portal.web import event_label, public_url_for


def photo_url(sha256: str) -> str:
    """Return the public address of a photo."""
    return public_url_for("public.photo", sha256=sha256, variant="full")


def _extensions() -> bool:
    return (request.args.get("extensions") or "").lower() == "true"


@bp.route("/requests.<any(json, xml):fmt>")
@per_address
def requests_list(fmt: str) -> Response:
    """List public cases by the spec's filters (90 days, at most 1000, paged)."""
    try:
        filters = open311.read_filters(request.args.to_dict(), utcnow())
    except open311.BadArguments as bad:
        return errors(fmt, 400, bad.problems)
    found = open311.find_requests(db.session, filters)
    listed = [open311.request_fields(c, photo_url, _extensions()) for c in found]
    return answer(fmt, listed, "service_requests")


@bp.route("/requests/<service_request_id>.<any(json, xml):fmt>")
@per_address
def request_one(service_request_id: str, fmt: str) -> Response:
    """Show one public case, wrapped as a list as the spec says."""
    case = open311.public_case(db.session, service_request_id) or abort(404)
    fields = open311.request_fields(case, photo_url, _extensions())
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
            for f in request.files.getlist("media")
            if f
        ],
    )
    store = PhotoStore(current_app.config["UPLOAD_DIR"])
    try:
        case = open311_intake.post(
            db.session, key, posted, store, now, str(get_locale()), request.remote_addr or ""
        )
    except open311.BadArguments as bad:
        db.session.commit()  # the key's use is counted even when the request is refused
        return errors(fmt, 400, bad.problems)
    db.session.commit()
    notice = _("Received as case %(number)s.", number=case.number)
    listed = [{"service_request_id": case.number, "service_notice": notice, "account_id": None}]
    return answer(fmt, listed, "service_requests", 201)


@bp.route("/tokens/<token>.<any(json, xml):fmt>")
@per_address
def token(token: str, fmt: str) -> Response:
    """Answer the request a token stands for: requests are opened at once, so a token is
    the case number the POST answered."""
    case = open311.public_case(db.session, token) or abort(404)
    return answer(fmt, [{"service_request_id": case.number, "token": token}], "service_requests")


@bp.route("/servicerequestupdates.<any(json, xml):fmt>")
@per_address
def updates(fmt: str) -> Response:
    """List the public timeline events of a window (FixMyStreet's updates extension)."""
    args = {k: v for k, v in request.args.items() if k in ("start_date", "end_date")}
    try:
        filters = open311.read_filters(args, utcnow())
    except open311.BadArguments as bad:
        return errors(fmt, 400, bad.problems)
    listed = []
    for event, status in open311.updates(db.session, filters.start, filters.end):
        photo = open311.event_photo(db.session, event)
        listed.append(
            {
                "update_id": str(event.id),
                "service_request_id": event.case.number,
                "status": status,
                "updated_datetime": open311.w3c(event.created_at),
                "description": event.body or event_label(event.kind),
                "media_url": photo_url(photo.sha256) if photo else None,
            }
        )
    return answer(fmt, listed, "service_request_updates")
