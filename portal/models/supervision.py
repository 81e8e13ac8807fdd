"""Citizen supervisors: applications, monthly spot checks and inspection reports."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.case import Case
from portal.models.org import User, Zone
from portal.models.works import Project

CHECKLIST = (
    "fencing",
    "dust",
    "road_permit",
    "night_permit",
    "pits_covers",
    "muck",
    "tidy",
    "other",
)


class SupervisorApplication(Base):
    """A resident asks to become a citizen supervisor (市民监督员)."""

    __tablename__ = "supervisor_application"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'declined')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(40))
    email: Mapped[str] = mapped_column(String(255))
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zone.id"))
    motivation: Mapped[str] = mapped_column(Text, default="")
    # When the applicant agreed to the supervisors' code of conduct.
    agreed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    zone: Mapped[Zone | None] = relationship()
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])


class SpotCheckRound(Base):
    """One month's random assignment of sites to supervisors (随机抽查)."""

    __tablename__ = "spot_check_round"

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7), unique=True)  # YYYY-MM
    seed: Mapped[int] = mapped_column(Integer)
    per_supervisor: Mapped[int] = mapped_column(Integer)
    run_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    # Who ran it, as text: the account's name, or the operator's login on the server.
    run_by_label: Mapped[str] = mapped_column(String(255), default="", server_default="")
    run_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    run_by: Mapped[User | None] = relationship()
    assignments: Mapped[list[Assignment]] = relationship(
        back_populates="round", cascade="all, delete-orphan"
    )


class Assignment(Base):
    """A site a supervisor is to check in a month."""

    __tablename__ = "assignment"
    __table_args__ = (UniqueConstraint("round_id", "supervisor_id", "project_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("spot_check_round.id"), index=True)
    supervisor_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    due_on: Mapped[date] = mapped_column(Date)

    round: Mapped[SpotCheckRound] = relationship(back_populates="assignments")
    supervisor: Mapped[User] = relationship()
    project: Mapped[Project] = relationship()


class OnSiteEvidence:
    """What shows a supervisor was on site: the device's position, and staff's review of it.

    A report or check is flagged (needs review) when its position was typed or imprecise, or
    far from the site, or a photo's own EXIF disagrees with the site or the visit. A flagged
    one earns nothing and counts nowhere until staff confirm it (confirmed_at) or reject it
    (rejected_at), with a reason (review_note)."""

    # The Geolocation API's accuracy (metres) and the device's time of the fix; both None
    # when the position was typed.
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    position_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Typed, or claimed by the device without a fresh accuracy and time: the server decides.
    # Rows filed before this evidence existed read as not typed (server default).
    position_typed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=false())
    # When the office received this position (device times are compared with it).
    position_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    review_reasons: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    review_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    rejected_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def pending_review(self) -> bool:
        """Tell whether staff have yet to confirm or reject this flagged record."""
        return self.flagged and self.confirmed_at is None and self.rejected_at is None


class PhotoEvidence:
    """What a photo's own EXIF said, compared with the site: never the EXIF itself."""

    exif_found: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    exif_taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exif_distance_m: Mapped[float | None] = mapped_column(Float)


class Inspection(OnSiteEvidence, Base):
    """A supervisor's inspection report of a site: a draft until submitted."""

    __tablename__ = "inspection"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'submitted')", name="status"),
        CheckConstraint("verdict IN ('', 'pass', 'fail')", name="verdict"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Made by the browser when the form opens: a second submit of the same form finds it.
    client_key: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    supervisor_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignment.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    verdict: Mapped[str] = mapped_column(String(10), default="")
    items: Mapped[dict] = mapped_column(JSON, default=dict)  # item → {result, note}
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    distance_m: Mapped[float | None] = mapped_column(Float)
    off_site: Mapped[bool] = mapped_column(Boolean, default=False)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the server last kept the draft: the browser's copy wins only if it is newer.
    saved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    project: Mapped[Project] = relationship()
    supervisor: Mapped[User] = relationship(foreign_keys=[supervisor_id])
    photos: Mapped[list[InspectionPhoto]] = relationship(
        back_populates="inspection", order_by="InspectionPhoto.id"
    )


class InspectionPhoto(PhotoEvidence, Base):
    """A photo of a checklist item, stored by content hash like case photos."""

    __tablename__ = "inspection_photo"

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspection.id"), index=True)
    item: Mapped[str] = mapped_column(String(20))
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    inspection: Mapped[Inspection] = relationship(back_populates="photos")


class SiteCheck(OnSiteEvidence, Base):
    """A supervisor's check on site of the fix of their finding (核查): close or send back.

    Applied to the case at once when the evidence holds; otherwise kept pending until staff
    confirm it (then applied) or reject it."""

    __tablename__ = "site_check"
    __table_args__ = (CheckConstraint("action IN ('close', 'rework')", name="action"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    supervisor_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    action: Mapped[str] = mapped_column(String(10))
    body: Mapped[str] = mapped_column(Text, default="")
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    distance_m: Mapped[float | None] = mapped_column(Float)
    off_site: Mapped[bool] = mapped_column(Boolean, default=False)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    case: Mapped[Case] = relationship()
    supervisor: Mapped[User] = relationship(foreign_keys=[supervisor_id])
    photos: Mapped[list[SiteCheckPhoto]] = relationship(
        back_populates="check", order_by="SiteCheckPhoto.id"
    )


class SiteCheckPhoto(PhotoEvidence, Base):
    """A photo taken during a check on site, stored by content hash."""

    __tablename__ = "site_check_photo"

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("site_check.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    check: Mapped[SiteCheck] = relationship(back_populates="photos")


class FollowUpRound(Base):
    """One month's random sample of fixed cases and accepted works to check again (回头看)."""

    __tablename__ = "follow_up_round"

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7), unique=True)  # YYYY-MM
    seed: Mapped[int] = mapped_column(Integer)
    share: Mapped[float] = mapped_column(Float)
    run_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    run_by_label: Mapped[str] = mapped_column(String(255), default="", server_default="")
    run_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    follow_ups: Mapped[list[FollowUp]] = relationship(
        back_populates="round", cascade="all, delete-orphan"
    )


class FollowUp(OnSiteEvidence, Base):
    """A closed case or an accepted work a supervisor checks again on site: still fixed, or
    rebounded (反弹). A rebound reopens the case as rework, or opens a finding on the work."""

    __tablename__ = "follow_up"
    __table_args__ = (
        CheckConstraint("verdict IN ('', 'still_fixed', 'rebounded')", name="verdict"),
        CheckConstraint("(case_id IS NULL) <> (project_id IS NULL)", name="case_or_project"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("follow_up_round.id"), index=True)
    supervisor_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), index=True)
    # The stratum it was drawn from: the department that answers for the fix.
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    due_on: Mapped[date] = mapped_column(Date)
    verdict: Mapped[str] = mapped_column(String(12), default="", server_default="")
    body: Mapped[str] = mapped_column(Text, default="", server_default="")
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    distance_m: Mapped[float | None] = mapped_column(Float)
    off_site: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # When a rebound was applied (the case reopened or the finding opened).
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    # A rebound of a work: the category of the problem found, for the finding it opens.
    finding_category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"))
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    round: Mapped[FollowUpRound] = relationship(back_populates="follow_ups")
    supervisor: Mapped[User] = relationship(foreign_keys=[supervisor_id])
    case: Mapped[Case | None] = relationship(foreign_keys=[case_id])
    project: Mapped[Project | None] = relationship()
    finding: Mapped[Case | None] = relationship(foreign_keys=[finding_id])
    photos: Mapped[list[FollowUpPhoto]] = relationship(
        back_populates="follow_up", order_by="FollowUpPhoto.id"
    )


class FollowUpPhoto(PhotoEvidence, Base):
    """A photo taken during a follow-up check, stored by content hash."""

    __tablename__ = "follow_up_photo"

    id: Mapped[int] = mapped_column(primary_key=True)
    follow_up_id: Mapped[int] = mapped_column(ForeignKey("follow_up.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    follow_up: Mapped[FollowUp] = relationship(back_populates="photos")
