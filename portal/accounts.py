"""Signed-in accounts: how Flask-Login finds them, and the first-sign-in password guard."""

from __future__ import annotations

from flask import Flask, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.extensions import db, login_manager
from portal.models import AccountTotp, User
from portal.services import reference

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
    # One query for the account, its second factor (the back office checks it on every
    # request: the row stays in the session for `two_factor.is_enabled`) and the version of
    # the reference data the worker keeps (services/reference.py).
    row = db.session.execute(
        select(User, AccountTotp, reference.version_query())
        .outerjoin(AccountTotp, AccountTotp.account_id == User.id)
        .where(User.id == int(account_id))
    ).first()
    if row is None:
        return None
    user, second_factor, reference_version = row
    if not user.is_active or user.session_version != int(version):
        return None
    user.loaded_second_factor = second_factor  # held: the session keeps its rows weakly
    reference.remember_version(reference_version)
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
