"""Signed-in accounts: how Flask-Login finds them, and the first-sign-in password guard."""

from __future__ import annotations

from flask import Flask, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.extensions import db, login_manager
from portal.models import User

# What a user who must change their password may still open.
OPEN_WHILE_CHANGING = frozenset(
    {
        "auth.change_password",
        "auth.logout",
        "auth.set_password",
        "static",
        "public.switch_language",
    }
)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Return the active account kept in the session, if its session version is current.

    The session (and a remember-me cookie) holds "id:version"; signing out, a new password,
    a disabled account or a new role bump the version, so every copy of an older cookie,
    wherever it was taken, stops working. A bare id (a cookie from before versions) is refused.
    """
    account_id, _, version = user_id.partition(":")
    if not account_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(account_id))
    if user is None or not user.is_active or user.session_version != int(version):
        return None
    return user


def require_password_change() -> Response | None:
    """Send a user whose password must change to the change-password page, whatever they open."""
    if (
        current_user.is_authenticated
        and current_user.must_change_password
        and request.endpoint not in OPEN_WHILE_CHANGING
    ):
        return redirect(url_for("auth.change_password"), code=303)
    return None


def init_app(app: Flask) -> None:
    """Install the first-sign-in guard on every request."""
    app.before_request(require_password_change)
