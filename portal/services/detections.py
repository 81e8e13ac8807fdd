"""Machine detections from video-analytics platforms: logged always, an alarm above the
kind's confidence threshold, and each source's precision (confirmed / decided).

The portal runs no vision model: it is where people check what cameras report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import OPEN_ALARM_STATES, Alarm, ApiKey, Detection, Facility
from portal.services import geo
from portal.services.photos import PhotoStore, ProcessedPhoto, save_for_session

# kind: (Chinese, English, category code, minimum confidence for an alarm)
KINDS: dict[str, tuple[str, str, str, float]] = {
    "cover_missing": ("井盖缺失", "Missing manhole cover", "0401", 0.6),
    "standing_water": ("路面积水", "Standing water", "0203", 0.6),
    "road_occupation": ("占道施工", "Construction occupying the road", "0705", 0.7),
    "muck_spill": ("渣土遗撒", "Spilled muck", "0704", 0.7),
    "road_debris": ("道路遗撒障碍物", "Debris on the road", "0803", 0.7),
}
SAME_PLACE_M = 30.0  # a detection this close to an open one of the same kind adds to it
MAX_AGE = timedelta(days=7)
FUTURE_SLACK = timedelta(minutes=5)


class DetectionError(ValueError):
    """A detection that cannot be taken as sent (the code says which field)."""


@dataclass
class Sent:
    """What a platform sends."""

    kind: str
    confidence: float
    detected_at: datetime
    lat: float | None = None
    lng: float | None = None
    facility_code: str = ""
    camera: str = ""


def _metres(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    dy = (lat2 - lat1) * 111_320
    dx = (lng2 - lng1) * 111_320 * math.cos(math.radians(lat1))
    return math.hypot(dx, dy)


def receive(
    session: Session,
    source: ApiKey,
    sent: Sent,
    snapshot: ProcessedPhoto | None,
    store: PhotoStore,
    now: datetime,
    thresholds: dict[str, float] | None = None,
) -> tuple[Detection, Alarm | None]:
    """Log a detection; above its kind's threshold raise (or add to) an alarm to verify."""
    if sent.kind not in KINDS:
        raise DetectionError("kind")
    if not (math.isfinite(sent.confidence) and 0 <= sent.confidence <= 1):
        raise DetectionError("confidence")
    if not now - MAX_AGE <= sent.detected_at <= now + FUTURE_SLACK:
        raise DetectionError("time")
    facility = None
    if sent.facility_code:
        facility = session.scalar(select(Facility).where(Facility.code == sent.facility_code))
        if facility is None:
            raise DetectionError("facility")
        lat, lng = facility.lat, facility.lng
    else:
        if sent.lat is None or sent.lng is None or not geo.is_valid_position(sent.lat, sent.lng):
            raise DetectionError("position")
        lat, lng = sent.lat, sent.lng
    zh, _en, category, minimum = KINDS[sent.kind]
    minimum = (thresholds or {}).get(sent.kind, minimum)
    detection = Detection(
        api_key_id=source.id,
        kind=sent.kind,
        confidence=sent.confidence,
        lat=lat,
        lng=lng,
        facility_id=facility.id if facility else None,
        camera=sent.camera.strip()[:100],
        detected_at=sent.detected_at,
        snapshot_sha256=snapshot.sha256 if snapshot else "",
        raised=sent.confidence >= minimum,
        created_at=now,
    )
    session.add(detection)
    if snapshot is not None:
        save_for_session(session, store, snapshot)
    session.flush()
    if not detection.raised:
        return detection, None
    alarm = _open_nearby(session, source, sent.kind, lat, lng)
    if alarm is not None:
        alarm.breach_count += 1
        alarm.last_breach_at = max(alarm.last_breach_at, sent.detected_at)
        alarm.peak_value = max(alarm.peak_value or 0, sent.confidence)
    else:
        alarm = Alarm(
            detection_id=detection.id,
            state="raised",
            lat=lat,
            lng=lng,
            summary=f"{zh} · {source.name} {sent.camera}".strip()[:255],
            category_code=category,
            opened_at=now,
            last_breach_at=sent.detected_at,
            breach_count=1,
            peak_value=sent.confidence,
        )
        session.add(alarm)
    session.flush()
    return detection, alarm


def _open_nearby(
    session: Session, source: ApiKey, kind: str, lat: float, lng: float
) -> Alarm | None:
    """Return the open alarm of this source and kind within SAME_PLACE_M, if any."""
    candidates = session.scalars(
        select(Alarm)
        .join(Detection, Detection.id == Alarm.detection_id)
        .where(
            Alarm.state.in_(OPEN_ALARM_STATES),
            Detection.api_key_id == source.id,
            Detection.kind == kind,
        )
    ).all()
    for alarm in candidates:
        if _metres(alarm.lat, alarm.lng, lat, lng) <= SAME_PLACE_M:
            return alarm
    return None


@dataclass
class Precision:
    """How often a source's alarms were confirmed by a person."""

    source: ApiKey
    detections: int
    raised: int
    confirmed: int
    dismissed: int

    @property
    def precision(self) -> float | None:
        """Return confirmed / decided, None before any decision."""
        decided = self.confirmed + self.dismissed
        return self.confirmed / decided if decided else None


def precision(session: Session) -> list[Precision]:
    """Return each source's counts and precision."""
    result = []
    for source in session.scalars(select(ApiKey).order_by(ApiKey.name)):
        detections = session.scalar(
            select(func.count()).select_from(Detection).where(Detection.api_key_id == source.id)
        )
        if not detections:
            continue
        states = dict(
            session.execute(
                select(Alarm.state, func.count())
                .join(Detection, Detection.id == Alarm.detection_id)
                .where(Detection.api_key_id == source.id)
                .group_by(Alarm.state)
            ).all()
        )
        result.append(
            Precision(
                source=source,
                detections=detections,
                raised=sum(states.values()),
                confirmed=states.get("verified", 0) + states.get("case", 0),
                dismissed=states.get("dismissed", 0),
            )
        )
    return result
