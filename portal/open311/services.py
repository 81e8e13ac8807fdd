"""Discovery and the services (the portal's categories) with their attributes."""

from __future__ import annotations

from flask import abort, current_app
from werkzeug.wrappers import Response

from portal.extensions import db
from portal.open311 import bp
from portal.open311.formats import JSON_TYPE, XML_TYPE, answer
from portal.open311.limits import per_address
from portal.services import intake, open311
from portal.web import public_url_for

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# The day this API last changed in a way clients can see.
CHANGESET = "2026-11-25T00:00:00+08:00"


@bp.route("/discovery.<any(json, xml):fmt>")
@per_address
def discovery(fmt: str) -> Response:
    """Describe this endpoint: where it is, which formats, whom to ask for a key."""
    config = current_app.config
    base = public_url_for(".services_list", fmt="json").rsplit("/", 1)[0]
    return answer(
        fmt,
        {
            "changeset": CHANGESET,
            "contact": config["OPEN311_CONTACT"] or config["MAIL_FROM"],
            "key_service": config["OPEN311_KEY_SERVICE"] or config["PUBLIC_URL"],
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": base,
                    "changeset": CHANGESET,
                    "type": "production" if config["PORTAL_ENV"] == "production" else "test",
                    "formats": [XML_TYPE.split(";")[0], JSON_TYPE.split(";")[0]],
                }
            ],
        },
        "discovery",
    )


@bp.route("/services.<any(json, xml):fmt>")
@per_address
def services_list(fmt: str) -> Response:
    """List the services: every active category."""
    listed = [open311.service(c) for c in open311.active_services(db.session)]
    return answer(fmt, listed, "services")


@bp.route("/services/<service_code>.<any(json, xml):fmt>")
@per_address
def service_definition(service_code: str, fmt: str) -> Response:
    """Describe one service's attributes (the category's extra questions)."""
    category = intake.active_category(db.session, service_code) or abort(404)
    return answer(
        fmt,
        {
            "service_code": category.code,
            "attributes": open311.attributes(category),
        },
        "service_definition",
    )
