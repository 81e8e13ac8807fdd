"""Signing in and out, and one's own account, for staff and citizen supervisors."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from portal.auth import account, two_factor, views  # noqa: E402,F401
