"""The back office (/admin): staff only."""

from flask import Blueprint, abort
from flask_login import current_user

bp = Blueprint("admin", __name__, template_folder="templates")


@bp.before_request
def require_staff() -> None:
    """Let only signed-in, active staff into the back office."""
    if not current_user.is_authenticated:
        abort(401)
    if not current_user.is_staff:
        abort(403)


from admin import views  # noqa: E402,F401
