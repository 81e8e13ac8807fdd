"""The public site: map, reports, case pages."""

from flask import Blueprint

bp = Blueprint("public", __name__)

from portal.public import (  # noqa: E402,F401
    cases,
    consultations,
    exports,
    facilities,
    home,
    kpi,
    notices,
    page_cache,
    privacy,
    report,
    suggestions,
    track,
    works,
)

bp.record_once(lambda state: page_cache.init_app(state.app))
