"""The citizen supervisors' area (/supervisor): applying, spot checks, inspection reports."""

from flask import Blueprint, abort, current_app, request
from flask_login import current_user

bp = Blueprint("supervisor", __name__)

OPEN_ENDPOINTS = {"supervisor.apply"}


@bp.before_request
def require_supervisor():
    """Let only signed-in supervisors in, except to the application form."""
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    if current_user.role != "supervisor":
        abort(403)
    return None


from portal.supervisor import followups, views  # noqa: E402,F401
