"""The city's facilities (部件) and the devices that watch them.

A facility is one thing the city owns on the street, of a standard component type after
CJ/T 214 (manhole covers by network, street lights, rain inlets, road segments, bridges,
signs ...). Its code (部件编码) is the district's code + the type's class and subclass +
a serial, unique and stable across re-imports.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, BilingualName, UTCDateTime, utcnow
from portal.models.org import Department, Zone

# 完好, 破损, 丢失, 占用, 废弃
FACILITY_STATES = ("intact", "damaged", "missing", "occupied", "abandoned")
GEOMETRY_KINDS = ("point", "line")
DEVICE_KINDS = ("water_depth", "cover_tilt", "dust_pm10", "noise")
DEVICE_STATUSES = ("online", "offline", "maintenance")


class FacilityType(BilingualName, Base):
    """A standard component type: class code + subclass code (0103 雨水井盖, 0129 路灯 ...)."""

    __tablename__ = "facility_type"
    __table_args__ = (CheckConstraint("geometry_kind IN ('point', 'line')", name="geometry_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(4), unique=True)  # class (2) + subclass (2)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    class_zh: Mapped[str] = mapped_column(String(50))  # 公用设施类, 道路交通类 ...
    geometry_kind: Mapped[str] = mapped_column(String(10), default="point")
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    # Owns the facilities of this type where no routing rule of a bound category names one.
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))

    department: Mapped[Department | None] = relationship()


class Facility(Base):
    """One facility: a point (lamp, cover, inlet) or a line (road segment) on the map.

    Every facility keeps a bounding box (a point's is the point itself), so one indexed
    box query finds points and lines alike; lat/lng is the representative point.
    """

    __tablename__ = "facility"
    __table_args__ = (
        CheckConstraint(
            "state IN ('intact', 'damaged', 'missing', 'occupied', 'abandoned')", name="state"
        ),
        Index("ix_facility_box", "min_lat", "min_lng"),
        Index("ix_facility_type_box", "type_id", "min_lat", "min_lng"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    type_id: Mapped[int] = mapped_column(ForeignKey("facility_type.id"))
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    address: Mapped[str] = mapped_column(String(255), default="", server_default="")
    # GeoJSON Point or LineString, WGS-84; lat/lng is the point or the line's middle.
    geometry: Mapped[dict] = mapped_column(JSON)
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    min_lng: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    max_lng: Mapped[float] = mapped_column(Float)
    # Computed from the zones and the routing on import; kept when zones later change.
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("zone.id"), index=True)
    state: Mapped[str] = mapped_column(String(10), default="intact", server_default="intact")
    installed_on: Mapped[date | None] = mapped_column(Date)
    attributes: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    type: Mapped[FacilityType] = relationship()
    department: Mapped[Department | None] = relationship()
    grid: Mapped[Zone | None] = relationship()


class FacilityStateChange(Base):
    """One change of a facility's state, by a case, a person or an import."""

    __tablename__ = "facility_state_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id"), index=True)
    from_state: Mapped[str] = mapped_column(String(10))
    to_state: Mapped[str] = mapped_column(String(10))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Device(Base):
    """A sensor on a facility or a construction site, with its own credentials."""

    __tablename__ = "device"
    __table_args__ = (
        CheckConstraint("kind IN ('water_depth', 'cover_tilt', 'dust_pm10', 'noise')", name="kind"),
        CheckConstraint("status IN ('online', 'offline', 'maintenance')", name="status"),
        CheckConstraint(
            "facility_id IS NOT NULL OR project_id IS NOT NULL", name="facility_or_site"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)  # the MQTT client and topic name
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facility.id"), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="online", server_default="online")
    # The device's key, hashed (sha256); shown once when made.
    key_hash: Mapped[str] = mapped_column(String(64), default="", server_default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_value: Mapped[float | None] = mapped_column(Float)
    bad_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Bad readings refused, by reason (bad_json, range, future, old, duplicate ...).
    bad_reasons: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    facility: Mapped[Facility | None] = relationship()
    department: Mapped[Department | None] = relationship()
