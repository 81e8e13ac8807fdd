"""The public site: map, reports, case pages."""

from flask import Blueprint

bp = Blueprint("public", __name__)

from portal.public import cases, exports, home, kpi, report, works  # noqa: E402,F401
