"""The HTTP doors of sensors: a device posts its readings with its own key; a
video-analytics platform posts detections with its API key."""

from __future__ import annotations

from collections import Counter

from flask import current_app, jsonify, request
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.api import bp
from portal.extensions import csrf, db
from portal.models import Device, utcnow
from portal.services import alarms, apikeys, detections, devices, intake, readings
from portal.services.photos import PhotoStore


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify(error={"code": status, "message": message}), status


@bp.route("/devices/<code>/readings", methods=["POST"])
@csrf.exempt  # a device authenticates with its key, not a session
def device_readings(code: str) -> tuple[Response, int]:
    """Store a batch of up to 1,000 readings of one device; idempotent on (device, time)."""
    device = None
    if len(code) <= 40:
        device = db.session.scalar(select(Device).where(Device.code == code))
    if device is None or not devices.key_matches(device, request.headers.get("X-Device-Key", "")):
        return _error(401, _("Unknown device or wrong key."))
    data = request.get_json(silent=True)
    items = data.get("readings") if isinstance(data, dict) else data
    now = utcnow()
    if not isinstance(items, list):
        readings.count_bad(db.session, Counter({(device.id, "bad_json"): 1}))
        db.session.commit()
        return _error(400, _("The body must be a JSON list of readings."))
    if len(items) > readings.MAX_BATCH:
        return _error(413, _("At most 1,000 readings per request."))
    outcome = readings.ingest_batch(
        db.session, device, items, now, raw_days=current_app.config["READINGS_RAW_DAYS"]
    )
    if outcome.stored:
        alarms.evaluate_stored(db.session, outcome.stored, now)
    db.session.commit()
    return jsonify(stored=len(outcome.stored), refused=outcome.by_reason()), 200


@bp.route("/detections", methods=["POST"])
@csrf.exempt  # a platform authenticates with its API key, not a session
def post_detection() -> tuple[Response, int]:
    """Take one detection from a video-analytics platform (multipart, snapshot optional)."""
    source = apikeys.verify(
        db.session, request.headers.get("X-Api-Key") or request.form.get("api_key", "")
    )
    if source is None:
        return _error(401, _("Unknown or revoked API key."))
    form = request.form
    detected_at = readings.parse_time(form.get("time", ""))
    try:
        if detected_at is None:
            raise detections.DetectionError("time")
        sent = detections.Sent(
            kind=form.get("kind", ""),
            confidence=float(form.get("confidence", "nan")),
            detected_at=detected_at,
            lat=float(form["lat"]) if form.get("lat") else None,
            lng=float(form["lng"]) if form.get("lng") else None,
            facility_code=form.get("facility", "")[:40],
            camera=form.get("camera", ""),
        )
    except (ValueError, detections.DetectionError):
        return _error(400, _("Give kind, confidence, time and a position or a facility."))
    snapshot = None
    upload = request.files.get("snapshot")
    if upload is not None and upload.filename:
        processed, refused = intake.process_uploads([(upload.filename, upload.stream)], limit=1)
        if refused:
            return _error(400, refused[0])
        snapshot = processed[0]
    store = PhotoStore(current_app.config["UPLOAD_DIR"])
    try:
        detection, alarm = detections.receive(db.session, source, sent, snapshot, store, utcnow())
    except detections.DetectionError as error:
        db.session.rollback()
        return _error(400, _("This detection was refused: %(field)s.", field=str(error)))
    db.session.commit()
    return jsonify(id=detection.id, alarm=alarm.id if alarm else None), 201
