"""Signed-in accounts: how Flask-Login finds them."""

from __future__ import annotations

from portal.extensions import db, login_manager
from portal.models import User


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Return the active account kept in the session."""
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.is_active else None
