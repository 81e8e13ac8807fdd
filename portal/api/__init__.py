"""The portal's JSON API (v1)."""

from flask import Blueprint

bp = Blueprint("api", __name__)

from portal.api import cases, kpi  # noqa: E402,F401
