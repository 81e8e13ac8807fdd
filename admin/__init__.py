"""The back office (/admin): staff only; settings for admins only."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import get_locale
from flask_login import current_user

bp = Blueprint("admin", __name__, template_folder="templates")


@bp.before_request
def require_staff():
    """Let only signed-in, active staff into the back office."""
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    if not current_user.is_staff:
        abort(403)
    return None


@bp.app_template_global()
def admin_nav_links() -> str:
    """Return the back office's links for the signed-in staff member's role (HTML), rendered
    once per role, language and mount point: they are the same on every page, and were
    30 `url_for` and 17 translations on each."""
    key = (current_user.role, str(get_locale()), request.script_root)
    kept = current_app.extensions.setdefault("admin_nav_links", {})
    html = kept.get(key)
    if html is None:
        html = kept[key] = render_template("admin/_nav_links.html")
    return html


def admin_required(view: Callable) -> Callable:
    """Let only admins use a view (settings, accounts, the audit log)."""

    @wraps(view)
    def guarded(*args, **kwargs):
        if current_user.role != "admin":
            abort(403)
        return view(*args, **kwargs)

    return guarded


def dispatcher_required(view: Callable) -> Callable:
    """Let only dispatchers and admins use a view (triage, bulk actions, offline entry)."""

    @wraps(view)
    def guarded(*args, **kwargs):
        if current_user.role not in ("dispatcher", "admin"):
            abort(403)
        return view(*args, **kwargs)

    return guarded


from admin import (  # noqa: E402,F401
    apikeys,
    audit_log,
    blocklist,
    casework,
    exports,
    facilities,
    facility_repeats,
    followups,
    kpi,
    moderation,
    notices,
    one_map,
    outbox,
    participation,
    queue,
    replies,
    sensors,
    settings,
    site_checks,
    supervision,
    supervisors,
    works,
)
