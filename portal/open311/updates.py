"""Service request updates (FixMyStreet's extension): the public feed, and citizens' updates
posted by other systems."""

from __future__ import annotations

from flask import request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from portal.extensions import db
from portal.models import utcnow
from portal.open311 import bp
from portal.open311.formats import answer, errors
from portal.open311.limits import per_address, per_key
from portal.open311.requests import UPDATES_ARGUMENTS, photo_url, with_next_link
from portal.services import open311, open311_intake, open311_updates
from portal.web import event_label


@bp.route("/servicerequestupdates.<any(json, xml):fmt>")
@per_address
def updates(fmt: str) -> Response:
    """List the public timeline events of a window, in FixMyStreet's extended statuses."""
    args = {k: v for k, v in request.args.items() if k in UPDATES_ARGUMENTS}
    try:
        filters = open311.read_filters(args, utcnow())
    except open311.BadArguments as bad:
        return errors(fmt, 400, bad.problems)
    found = open311_updates.feed(
        db.session, filters.start, filters.end, filters.page, filters.page_size
    )
    found, more = open311.cut(found, filters.page_size)
    listed = []
    for entry in found:
        event = entry.event
        photo = open311.event_photo(db.session, event)
        item = {
            "update_id": str(event.id),
            "service_request_id": event.case.number,
            "status": entry.status,
            "external_status_code": entry.state,
            "updated_datetime": open311.w3c(event.created_at),
            "description": event.body or event_label(event.kind),
            "media_url": photo_url(photo.sha256) if photo else None,
        }
        if entry.duplicate_of:
            item["duplicate_of"] = entry.duplicate_of
        listed.append(item)
    return with_next_link(answer(fmt, listed, "service_request_updates"), more, filters.page)


@bp.route("/servicerequestupdates.<any(json, xml):fmt>", methods=["POST"])
@per_address
@per_key
def update_post(fmt: str) -> Response:
    """Store a citizen's update sent by another system; answer our update_id."""
    now = utcnow()
    try:
        key = open311_intake.authenticate(db.session, request.values.get("api_key", ""), now)
    except open311_intake.Forbidden:
        return errors(fmt, 403, [_("A valid api_key is required.")])
    try:
        stored = open311_updates.post_update(db.session, key, request.form.to_dict(), now)
    except open311_updates.UnknownRequest:
        db.session.commit()  # nothing was written but the key's use, counted as for requests
        return errors(fmt, 404, [_("No such service request.")])
    except open311.BadArguments as bad:
        db.session.commit()
        return errors(fmt, 400, bad.problems)
    db.session.commit()
    listed = [{"update_id": str(stored.event.id)}]
    return answer(fmt, listed, "service_request_updates", 201 if stored.created else 200)
