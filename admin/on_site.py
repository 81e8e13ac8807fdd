"""What staff's review of the supervisors' work on site shares, for reports, checks and
follow-ups alike: deciding on a flagged one, and serving its photos."""

from __future__ import annotations

from collections.abc import Callable

from flask import abort
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.extensions import db
from portal.models import utcnow
from portal.models.supervision import OnSiteEvidence, PhotoEvidence
from portal.services.photos import store_for_app


def review(
    decide: Callable, record: OnSiteEvidence, reason: str, refused: type[ValueError]
) -> tuple[object, str | None]:
    """Confirm or reject a flagged record with the reason and commit: return what the decision
    made, and None; or, refused, roll back and return None and the refusal's code."""
    try:
        made = decide(db.session, record, current_user, reason, utcnow())
    except refused as error:
        db.session.rollback()
        return None, error.args[0]
    db.session.commit()
    return made, None


def photo(row_type: type[PhotoEvidence], sha256: str) -> Response:
    """Serve to staff a photo of a report or check (re-encoded: no EXIF)."""
    if db.session.scalar(select(row_type.id).where(row_type.sha256 == sha256)) is None:
        abort(404)
    return store_for_app().response(sha256, "full", public=False, max_age=3600)
