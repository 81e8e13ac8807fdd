"""The office's works: contractors, projects (construction sites) and the red and black list."""

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
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.org import Department, User

PHASES = ("approval", "tender", "construction", "acceptance", "operation")


class Contractor(Base):
    """A firm that builds the office's works."""

    __tablename__ = "contractor"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)  # 统一社会信用代码
    contact_name: Mapped[str] = mapped_column(String(100), default="")
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    projects: Mapped[list[Project]] = relationship(back_populates="contractor")


class Project(Base):
    """A work of the office (在建工程): a point or a line on the map, in a lifecycle phase."""

    __tablename__ = "project"
    __table_args__ = (
        CheckConstraint(
            "phase IN ('approval', 'tender', 'construction', 'acceptance', 'operation')",
            name="phase",
        ),
        Index("ix_project_active_site", "active_site"),
        CheckConstraint("acceptance_result IN ('', 'passed', 'failed')", name="acceptance"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    geometry: Mapped[dict] = mapped_column(JSON)  # GeoJSON Point or LineString, WGS-84
    # A representative point, for maps and the spot-check spread.
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    contractor_id: Mapped[int | None] = mapped_column(ForeignKey("contractor.id"), index=True)
    supervising_firm: Mapped[str] = mapped_column(String(200), default="")
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    phase: Mapped[str] = mapped_column(String(20), default="approval")
    planned_start: Mapped[date | None] = mapped_column(Date)
    planned_end: Mapped[date | None] = mapped_column(Date)
    actual_start: Mapped[date | None] = mapped_column(Date)
    actual_end: Mapped[date | None] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text, default="")
    active_site: Mapped[bool] = mapped_column(Boolean, default=False)
    # The result of the completion acceptance (竣工验收): passed, failed, or not yet.
    acceptance_result: Mapped[str] = mapped_column(String(10), default="", server_default="")
    acceptance_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    contractor: Mapped[Contractor | None] = relationship(back_populates="projects")
    department: Mapped[Department | None] = relationship()


class ListEntry(Base):
    """A red-list commendation or a black-list entry for a contractor, confirmed by an admin."""

    __tablename__ = "list_entry"
    __table_args__ = (CheckConstraint("kind IN ('red', 'black')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contractor_id: Mapped[int] = mapped_column(ForeignKey("contractor.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(String(50), default="")
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dismissed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_on: Mapped[date | None] = mapped_column(Date)
    # The last renewal: another period on the list, with the admin's reason.
    renewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    renewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    renewal_reason: Mapped[str] = mapped_column(Text, default="", server_default="")

    contractor: Mapped[Contractor] = relationship()
    confirmed_by: Mapped[User | None] = relationship(foreign_keys=[confirmed_by_id])
    renewed_by: Mapped[User | None] = relationship(foreign_keys=[renewed_by_id])
