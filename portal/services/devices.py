"""Devices: registration one by one or from CSV, their keys, and their place."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import DEVICE_KINDS, Department, Device, Facility, Project, User
from portal.services import audit, geo

CODE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")  # it becomes an MQTT topic level: no / + #
CSV_COLUMNS = (
    "code",
    "kind",
    "name",
    "lat",
    "lng",
    "facility_code",
    "project_code",
    "department_code",
)


class DeviceError(ValueError):
    """A device that cannot be registered as given."""


def digest(key: str) -> str:
    """Return the stored form of a device key."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_matches(device: Device, key: str) -> bool:
    """Tell whether a key sent by a client is this device's."""
    if not key or len(key) > 200 or not device.key_hash or not device.active:
        return False
    return hmac.compare_digest(device.key_hash, digest(key))


def new_key(device: Device) -> str:
    """Give a device a fresh key; return it (shown once, stored hashed)."""
    key = secrets.token_urlsafe(24)
    device.key_hash = digest(key)
    return key


@dataclass
class DeviceData:
    """What an admin gives to register a device."""

    code: str
    kind: str
    name: str = ""
    lat: float | None = None
    lng: float | None = None
    facility_id: int | None = None
    project_id: int | None = None
    department_id: int | None = None


def register(
    session: Session, actor: User | None, data: DeviceData, now: datetime
) -> tuple[Device, str]:
    """Register a device on a facility or a site; return it and its key (shown once)."""
    code = data.code.strip()
    if not CODE.match(code):
        raise DeviceError("code")
    if data.kind not in DEVICE_KINDS:
        raise DeviceError("kind")
    if session.scalar(select(Device.id).where(Device.code == code)) is not None:
        raise DeviceError("code_taken")
    facility = session.get(Facility, data.facility_id) if data.facility_id else None
    project = session.get(Project, data.project_id) if data.project_id else None
    if facility is None and project is None:
        raise DeviceError("place")
    lat, lng = data.lat, data.lng
    if lat is None or lng is None:
        place = facility or project
        lat, lng = place.lat, place.lng
    if not geo.is_valid_position(lat, lng):
        raise DeviceError("position")
    department_id = data.department_id
    if department_id is None:
        department_id = (facility.department_id if facility else None) or (
            project.department_id if project else None
        )
    device = Device(
        code=code,
        kind=data.kind,
        name=data.name.strip()[:200],
        facility_id=facility.id if facility else None,
        project_id=project.id if project else None,
        lat=lat,
        lng=lng,
        department_id=department_id,
        status="online",
        active=True,
        bad_reasons={},
        created_at=now,
    )
    key = new_key(device)
    session.add(device)
    session.flush()
    if actor is not None:
        audit.record(
            session, actor, "device.register", "device", device.id, None, {"code": code}, now
        )
    return device, key


def _float(text: str) -> float | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError as error:
        raise DeviceError("position") from error


def import_csv(
    session: Session, actor: User | None, text: str, now: datetime
) -> tuple[list[tuple[Device, str]], list[tuple[int, str]]]:
    """Register the devices of a CSV (header CSV_COLUMNS); return made ones and row errors.

    Every row is checked; if any row is wrong nothing is registered.
    """
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"code", "kind"} <= set(reader.fieldnames):
        return [], [(1, "header")]
    made: list[tuple[Device, str]] = []
    errors: list[tuple[int, str]] = []
    with session.begin_nested() as savepoint:
        for line, row in enumerate(reader, start=2):
            try:
                facility_id = _lookup(session, Facility, row.get("facility_code"))
                project_id = _lookup(session, Project, row.get("project_code"))
                department_id = _lookup(session, Department, row.get("department_code"))
                data = DeviceData(
                    code=row.get("code") or "",
                    kind=(row.get("kind") or "").strip(),
                    name=row.get("name") or "",
                    lat=_float(row.get("lat") or ""),
                    lng=_float(row.get("lng") or ""),
                    facility_id=facility_id,
                    project_id=project_id,
                    department_id=department_id,
                )
                made.append(register(session, actor, data, now))
            except DeviceError as error:
                errors.append((line, str(error)))
        if errors:
            savepoint.rollback()
            return [], errors
    return made, errors


def _lookup(session: Session, model: type, code: str | None) -> int | None:
    code = (code or "").strip()
    if not code:
        return None
    found = session.scalar(select(model.id).where(model.code == code))
    if found is None:
        raise DeviceError(f"unknown_{model.__tablename__}")
    return found


def listed(session: Session, kind: str = "", status: str = "") -> list[Device]:
    """Return the devices, filtered by kind and status, by code."""
    query = select(Device).order_by(Device.code)
    if kind:
        query = query.where(Device.kind == kind)
    if status:
        query = query.where(Device.status == status)
    return list(session.scalars(query))


def in_box(session: Session, bbox: tuple[float, float, float, float]) -> list[Device]:
    """Return the active devices in a box (minLng, minLat, maxLng, maxLat)."""
    min_lng, min_lat, max_lng, max_lat = bbox
    return list(
        session.scalars(
            select(Device)
            .where(
                Device.active.is_(True),
                Device.lat.between(min_lat, max_lat),
                Device.lng.between(min_lng, max_lng),
            )
            .limit(5000)
        )
    )
