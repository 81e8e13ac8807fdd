"""Evidence that a supervisor was on site: the device's position and the photos' own EXIF.

A position counts as measured by the device only when the page sent the Geolocation API's
accuracy and time of the fix with it, and that time was fresh when the position reached the
office. Anything else is typed: the form lets a supervisor type a position when GPS is
unavailable, and a forged request can claim whatever it likes, so only the honest path goes
without a person's review. Photos are compared with the site and the visit through what
their EXIF said before it was stripped (photos.OriginalExif); a photo without EXIF is no
mismatch by itself (many phones strip it), staff just see "no EXIF".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, and_
from sqlalchemy.orm import Session

from portal.models import Case, Project, User
from portal.models.supervision import OnSiteEvidence, PhotoEvidence
from portal.services import audit, geo, works
from portal.services.photos import OriginalExif, PhotoStore, ProcessedPhoto, save_for_session

# Why a report or a check waits for staff, in the order they are shown.
REASONS = {
    "typed": _l("the position was typed, not measured by the phone"),
    "accuracy": _l("the phone's position was less precise than the site's radius"),
    "off_site": _l("the position is outside the site's radius"),
    "photo_far": _l("a photo's own GPS position is outside the site's radius"),
    "photo_time": _l("a photo was taken too long before or after the visit"),
}
MAX_ACCURACY_M = 100_000  # what a browser reports beyond this is no fix at all


class InvalidPosition(ValueError):
    """Raised when typed coordinates are not a place on Earth."""


@dataclass(frozen=True)
class Position:
    """A position as the form sent it: the device's accuracy and fix time only if given."""

    lat: float
    lng: float
    accuracy_m: float | None = None
    device_at: datetime | None = None
    from_device: bool = False  # what the page claims; the server decides with `is_typed`


def _number(text: str | None) -> float | None:
    try:
        value = float(text or "")
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_position(
    lat: str | None,
    lng: str | None,
    accuracy: str | None = None,
    fix_time: str | None = None,
    source: str | None = None,
) -> Position | None:
    """Read the form's position fields; None when no position was given."""
    if not (lat or "").strip() and not (lng or "").strip():
        return None
    latitude, longitude = _number(lat), _number(lng)
    if latitude is None or longitude is None or not geo.is_valid_position(latitude, longitude):
        raise InvalidPosition(lat, lng)
    metres = _number(accuracy)
    if metres is not None and not 0 < metres <= MAX_ACCURACY_M:
        metres = None
    millis = _number(fix_time)
    try:
        device_at = datetime.fromtimestamp(millis / 1000, UTC) if millis is not None else None
    except (OverflowError, OSError, ValueError):
        device_at = None
    return Position(latitude, longitude, metres, device_at, source == "device")


def is_typed(position: Position, received_at: datetime) -> bool:
    """Tell whether a position must count as typed: no device accuracy and time, or stale."""
    if not position.from_device or position.accuracy_m is None or position.device_at is None:
        return True
    max_age = timedelta(seconds=current_app.config["POSITION_MAX_AGE_S"])
    return abs(received_at - position.device_at) > max_age


def record_position(target: OnSiteEvidence, position: Position, received_at: datetime) -> None:
    """Keep a position on a report or a check, deciding whether it counts as typed.

    The same fix sent again (the page's later saves of a draft) keeps the verdict it had when
    it first arrived, so a report filled in over half an hour is not made stale by its own
    autosave; any change of position is judged afresh.
    """
    same = (
        target.lat == position.lat
        and target.lng == position.lng
        and target.accuracy_m == position.accuracy_m
        and target.position_at == position.device_at
        and target.position_received_at is not None
    )
    if same:
        return
    target.lat, target.lng = position.lat, position.lng
    target.position_typed = is_typed(position, received_at)
    # What the page claimed is kept even when it counts as typed: staff see it.
    target.accuracy_m, target.position_at = position.accuracy_m, position.device_at
    target.position_received_at = received_at


def shown_position(target: OnSiteEvidence) -> dict[str, str]:
    """Return the form's position fields for a record, so that reopening it changes nothing."""
    if target.lat is None or target.lng is None:
        return {}
    return {
        "lat": f"{target.lat:.6f}",
        "lng": f"{target.lng:.6f}",
        "accuracy": "" if target.accuracy_m is None else f"{target.accuracy_m:g}",
        "fix_time": ""
        if target.position_at is None
        else str(int(target.position_at.timestamp() * 1000)),
        "position_source": "typed" if target.position_typed else "device",
    }


def exif_time_utc(original: OriginalExif) -> datetime | None:
    """Return when the photo was taken, in UTC: its own offset, else the office's time zone."""
    if original.taken_at is None:
        return None
    if original.utc_offset is not None:
        return (original.taken_at - original.utc_offset).replace(tzinfo=UTC)
    office = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    return original.taken_at.replace(tzinfo=office).astimezone(UTC)


def record_photo(target: PhotoEvidence, original: OriginalExif | None, project: Project) -> None:
    """Keep what a photo's EXIF said about when and where, as a time and a distance."""
    target.exif_found = bool(original and original.found)
    target.exif_taken_at = exif_time_utc(original) if original else None
    target.exif_distance_m = (
        works.distance_to_site(project, original.lat, original.lng)
        if original and original.lat is not None and original.lng is not None
        else None
    )


def review_reasons(
    target: OnSiteEvidence, photos: list[PhotoEvidence], visited_at: datetime
) -> list[str]:
    """Return why a report or check needs staff review (empty: the evidence holds)."""
    radius = current_app.config["GEOFENCE_M"]
    window = timedelta(minutes=current_app.config["PHOTO_TIME_WINDOW_MIN"])
    found = []
    if target.position_typed:
        found.append("typed")
    elif target.accuracy_m is None or target.accuracy_m > radius:
        found.append("accuracy")
    if target.distance_m is not None and target.distance_m > radius:
        found.append("off_site")
    if any(p.exif_distance_m is not None and p.exif_distance_m > radius for p in photos):
        found.append("photo_far")
    if any(
        p.exif_taken_at is not None and abs(p.exif_taken_at - visited_at) > window for p in photos
    ):
        found.append("photo_time")
    return found


def distance_to(site: Project | Case, lat: float, lng: float) -> float:
    """Return the distance in metres from a position to a work's site or to a case's place."""
    if isinstance(site, Project):
        return works.distance_to_site(site, lat, lng)
    return geo.distance_m((lat, lng), (site.lat, site.lng))


def keep_photo(
    session: Session,
    store: PhotoStore,
    target: OnSiteEvidence,
    photo: ProcessedPhoto,
    row_type: type[PhotoEvidence],
    now: datetime,
    project: Project | None,
    **fields: str,
) -> PhotoEvidence:
    """Store a photo of a report or check and keep its row; with a work, its EXIF's say too."""
    save_for_session(session, store, photo)
    row = row_type(
        **fields, sha256=photo.sha256, width=photo.width, height=photo.height, created_at=now
    )
    target.photos.append(row)
    if project is not None:
        record_photo(row, photo.original_exif, project)
    session.add(row)
    return row


def judge(target: OnSiteEvidence, distance_m: float, visited_at: datetime) -> None:
    """Keep how far from the site a record was made, and flag it when its evidence fails."""
    target.distance_m = distance_m
    target.off_site = distance_m > current_app.config["GEOFENCE_M"]
    target.review_reasons = review_reasons(target, target.photos, visited_at)
    target.flagged = bool(target.review_reasons)


def record_visit(
    session: Session,
    target: OnSiteEvidence,
    position: Position,
    photos: list[ProcessedPhoto],
    store: PhotoStore,
    now: datetime,
    row_type: type[PhotoEvidence],
    site: Project | Case,
) -> None:
    """Keep a check's evidence of a visit: the position, the photos, and whether it holds."""
    record_position(target, position, now)
    project = site if isinstance(site, Project) else None
    for photo in photos:
        keep_photo(session, store, target, photo, row_type, now, project)
    judge(target, distance_to(site, target.lat, target.lng), now)


def awaiting_review(model: type[OnSiteEvidence]) -> ColumnElement[bool]:
    """Return the condition of a flagged record that staff have yet to confirm or reject."""
    return and_(model.flagged.is_(True), model.confirmed_at.is_(None), model.rejected_at.is_(None))


def ensure_decidable(
    target: OnSiteEvidence, reason: str, error: type[ValueError], waiting: bool | None = None
) -> None:
    """Raise `error` ("state" or "reason") unless the record waits for review and a reason is
    given; `waiting` overrides `pending_review` where a kind waits for other reasons too."""
    if not (target.pending_review if waiting is None else waiting):
        raise error("state")
    if not reason.strip():
        raise error("reason")


def settle(target: OnSiteEvidence, staff: User, decision: str, reason: str, now: datetime) -> None:
    """Keep staff's decision on a flagged record, "confirm" or "reject", with the reason."""
    if decision == "confirm":
        target.confirmed_by_id, target.confirmed_at = staff.id, now
    else:
        target.rejected_by_id, target.rejected_at = staff.id, now
    target.review_note = reason.strip()


def record_decision(
    session: Session,
    staff: User,
    action: str,
    target: OnSiteEvidence,
    about: tuple[str, object],
    now: datetime,
    **after: object,
) -> None:
    """Append staff's decision on a flagged record to the audit log, with its reason;
    `about` is the audited object's type and id."""
    audit.record(
        session, staff, action, *about, after={"reason": target.review_note, **after}, now=now
    )


def reason_labels(codes: list[str]) -> list[str]:
    """Return the translated reasons for a list of review reason codes."""
    return [str(REASONS[code]) for code in codes if code in REASONS]
