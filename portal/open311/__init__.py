"""Open311 GeoReport v2 (/open311/v2): the standard API other systems speak."""

from flask import Blueprint

bp = Blueprint("open311", __name__)

from portal.open311 import errors, openapi, requests, services, updates  # noqa: E402,F401
