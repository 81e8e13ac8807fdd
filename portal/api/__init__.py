"""The portal's JSON API (v1)."""

from flask import Blueprint

from portal.cors import allow_reads

bp = Blueprint("api", __name__)
bp.after_request(allow_reads)  # every /api/v1 answer is public data

from portal.api import cases, devices, facilities, facility_nearby, kpi  # noqa: E402,F401
