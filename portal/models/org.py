"""The office: departments, zones, routing rules, staff and API clients."""

from __future__ import annotations

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
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, BilingualName, UTCDateTime, utcnow

ROLES = ("supervisor", "handler", "dispatcher", "admin")
ZONE_LEVELS = ("district", "street", "grid")


class Department(BilingualName, Base):
    """A department that answers for cases routed to it."""

    __tablename__ = "department"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(255), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Escalations go to the head, then up to the parent department.
    head_id: Mapped[int | None] = mapped_column(
        ForeignKey("account.id", use_alter=True), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)

    head: Mapped[User | None] = relationship(foreign_keys=[head_id])
    parent: Mapped[Department | None] = relationship(remote_side=[id])


class Zone(BilingualName, Base):
    """A district, street or grid cell, as a GeoJSON polygon with its bounding box."""

    __tablename__ = "zone"
    __table_args__ = (
        CheckConstraint("level IN ('district', 'street', 'grid')", name="level"),
        # Finds the zones whose box holds a point, before the exact polygon test.
        Index("ix_zone_bbox", "min_lat", "max_lat", "min_lng", "max_lng"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(10))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("zone.id"), index=True)
    geometry: Mapped[dict] = mapped_column(JSON)
    min_lng: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lng: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)

    parent: Mapped[Zone | None] = relationship(remote_side=[id])


class RoutingRule(Base):
    """Send cases of a category (or group) in a zone to a department."""

    __tablename__ = "routing_rule"
    __table_args__ = (
        CheckConstraint("category_id IS NULL OR group_id IS NULL", name="category_or_group"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("category_group.id"), index=True)
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zone.id"), index=True)

    department: Mapped[Department] = relationship()


class User(Base):
    """A staff member or an approved citizen supervisor."""

    __tablename__ = "account"  # "user" is an SQL keyword
    __table_args__ = (
        CheckConstraint("role IN ('supervisor', 'handler', 'dispatcher', 'admin')", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    role: Mapped[str] = mapped_column(String(20))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locale: Mapped[str] = mapped_column(
        String(10), default="zh_Hans_CN", server_default="zh_Hans_CN"
    )
    # Supervisors: the zone they live in (spot checks prefer sites near it) and their points.
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zone.id"))
    points: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A supervisor suspended by an admin cannot sign in and gets no spot checks.
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspension_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Kept in the session and the remember-me cookie: bumping it ends every session at once.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set while the password is one someone else chose or saw: changed at the next sign-in.
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )

    department: Mapped[Department | None] = relationship(foreign_keys=[department_id])
    zone: Mapped[Zone | None] = relationship()

    @property
    def is_authenticated(self) -> bool:
        """Tell Flask-Login that a loaded user is signed in."""
        return True

    @property
    def is_active(self) -> bool:
        """Tell Flask-Login whether the account may sign in."""
        return self.active and self.suspended_at is None

    @property
    def is_anonymous(self) -> bool:
        """Tell Flask-Login this is a real account."""
        return False

    def get_id(self) -> str:
        """Return what Flask-Login keeps in the session and remember-me cookie: id and version."""
        return f"{self.id}:{self.session_version or 0}"

    @property
    def is_staff(self) -> bool:
        """Tell whether the user works in the office (not a volunteer)."""
        return self.role in ("handler", "dispatcher", "admin")


class ApiKey(Base):
    """A key an outside system uses to post Open311 requests."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    request_count: Mapped[int] = mapped_column(Integer, default=0)
    # The system behind the key keeps its own users informed: the portal mails the reporter of
    # a case it posted only when the office allows it for this key.
    mail_reporters: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
