"""What the supervisors' forms on site share: the position, the photos, and the answers to them.

Inspection reports, checks of a fix (核查) and follow-up checks (回头看) take the same evidence;
each view adds only what its kind asks for."""

from __future__ import annotations

from flask import flash, request
from flask_babel import gettext as _

from portal.models.supervision import OnSiteEvidence
from portal.services import evidence, intake
from portal.services.photos import ProcessedPhoto
from portal.supervisor.forms import PositionForm


def refusal(code: str, default: str, **others: str) -> str:
    """Return the translated reason a check on site was not recorded, `others` first."""
    return {
        "body": _("Describe what you found."),
        "position": _("Your position is missing or not valid: use “my position” or type it."),
        "photo": _("Add at least one photo of what you found on site."),
        **others,
    }.get(code, default)


def position(form: PositionForm) -> evidence.Position | None:
    """Return the position sent, None when it is missing or no place on Earth."""
    try:
        return form.position()
    except evidence.InvalidPosition:
        return None


def read_photos(field: str = "photo") -> tuple[list[ProcessedPhoto], list[str]]:
    """Process the photos of a file field: those kept, and why each refused one was refused."""
    files = [f for f in request.files.getlist(field) if f and f.filename]
    return intake.process_uploads((f.filename, f.stream, f.mimetype) for f in files)


def photos_or_flash(field: str = "photo") -> list[ProcessedPhoto] | None:
    """Return the photos of a file field, or flash why each refused one was and return None."""
    processed, refused = read_photos(field)
    for message in refused:
        flash(message, "error")
    return None if refused else processed


def why_flagged(record: OnSiteEvidence) -> str:
    """Return the translated reasons a report or check waits for staff review, joined."""
    return _("; ").join(evidence.reason_labels(record.review_reasons))
