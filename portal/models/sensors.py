"""What devices report, the rules that watch it and the alarms people verify.

On PostgreSQL the reading table is partitioned by month (created by the migration in raw
SQL, partitions made ahead by the listener or `flask sensors partitions`); on SQLite it
is a plain table. Its key (device, time, metric) makes every delivery idempotent.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, BilingualName, UTCDateTime, utcnow
from portal.models.case import Case
from portal.models.facilities import Device

RULE_KINDS = ("threshold", "rate", "baseline", "silence")
# raised → acknowledged → verified → case | dismissed; cleared when the value is normal again.
ALARM_STATES = ("raised", "acknowledged", "verified", "case", "dismissed", "cleared")
OPEN_ALARM_STATES = ("raised", "acknowledged", "verified")


PARTITION_NAME = re.compile(r"^reading_(default|p\d{6})$")


def is_partition(name: str | None, type_: str, *_: object) -> bool:
    """Tell whether a reflected name is a monthly partition of reading (not a model)."""
    return bool(name) and type_ in ("table", "index") and bool(PARTITION_NAME.match(name or ""))


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Leave the readings' partitions out of Alembic's comparison: the parent is the model."""
    if type_ == "index" and PARTITION_NAME.match(parent_names.get("table_name") or ""):
        return False
    return not is_partition(name, type_)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Reading(Base):
    """One value of one metric from one device at one time."""

    __tablename__ = "reading"
    __table_args__ = (Index("ix_reading_ts", "ts", postgresql_using="brin"),)

    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[float] = mapped_column(Float)


class ReadingHour(Base):
    """An hour of one device's metric: count, sum, min, max; kept for years."""

    __tablename__ = "reading_hour"

    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    total: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)


class DetectionRule(BilingualName, Base):
    """A rule as data: for every device of a kind, or for one device (which then wins)."""

    __tablename__ = "detection_rule"
    __table_args__ = (
        CheckConstraint(_in("rule_kind", RULE_KINDS), name="rule_kind"),
        CheckConstraint(
            "device_kind IS NOT NULL OR device_id IS NOT NULL", name="device_kind_or_device"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40))  # same code on a device overrides the kind's
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    device_kind: Mapped[str | None] = mapped_column(String(20))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id"), index=True)
    rule_kind: Mapped[str] = mapped_column(String(12))
    metric: Mapped[str] = mapped_column(String(16), default="", server_default="")
    # threshold: limit, clear_below, min_seconds, night_limit, night_peak (the local hours
    # 22:00–06:00 in Asia/Shanghai); rate: max_per_minute; baseline: max_z, min_samples;
    # silence: minutes. Every kind: clear_seconds (normal this long clears the alarm).
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    category_code: Mapped[str] = mapped_column(String(20), default="", server_default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Alarm(Base):
    """A breach of a rule by a device (or a machine detection) that a person must verify."""

    __tablename__ = "alarm"
    __table_args__ = (
        CheckConstraint(_in("state", ALARM_STATES), name="state"),
        Index("ix_alarm_device_rule_state", "device_id", "rule_id", "state"),
        Index("ix_alarm_state_opened", "state", "opened_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id"))
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("detection_rule.id"))
    detection_id: Mapped[int | None] = mapped_column(ForeignKey("detection.id"), index=True)
    state: Mapped[str] = mapped_column(String(12), default="raised")
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    summary: Mapped[str] = mapped_column(String(255), default="", server_default="")
    category_code: Mapped[str] = mapped_column(String(20), default="", server_default="")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_breach_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    breach_count: Mapped[int] = mapped_column(Integer, default=1)
    peak_value: Mapped[float | None] = mapped_column(Float)
    normal_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    dismiss_reason: Mapped[str] = mapped_column(Text, default="", server_default="")

    device: Mapped[Device | None] = relationship()
    rule: Mapped[DetectionRule | None] = relationship()
    case: Mapped[Case | None] = relationship()


class Detection(Base):
    """What a video-analytics platform found: logged always, an alarm above the threshold."""

    __tablename__ = "detection"

    id: Mapped[int] = mapped_column(primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_key.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    confidence: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facility.id"))
    camera: Mapped[str] = mapped_column(String(100), default="", server_default="")
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    snapshot_sha256: Mapped[str] = mapped_column(String(64), default="", server_default="")
    raised: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
