"""Signing in and out, for staff and citizen supervisors."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from portal.auth import two_factor, views  # noqa: E402,F401
