"""Open311 GeoReport v2 (/open311/v2): the standard API other systems speak."""

from flask import Blueprint

from portal.cors import allow_reads

bp = Blueprint("open311", __name__)
bp.after_request(allow_reads)

from portal.open311 import errors, jurisdiction, openapi, requests, services, updates  # noqa: E402,F401
