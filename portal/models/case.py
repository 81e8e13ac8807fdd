"""Cases, their timeline, photos and followers."""

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
    UniqueConstraint,
    and_,
    false,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.catalog import Category
from portal.models.org import ApiKey, Department, User, Zone

STATES = (
    "submitted",
    "accepted",
    "dispatched",
    "in_progress",
    "resolved",
    "closed",
    "rejected",
    "duplicate",
)
OPEN_STATES = ("submitted", "accepted", "dispatched", "in_progress", "resolved")
RATINGS = ("satisfied", "basically_satisfied", "dissatisfied")
SOURCES = ("web", "api", "inspection", "phone", "letter", "visit")
# Why staff must look at a case first (its flags), each accepted instead of refused.
CASE_FLAGS = (
    "photo_missing",
    "media_link",
    "answer_as_text",
    "answer_missing",
    "contact_unchecked",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class CaseCounter(Base):
    """The last case number handed out in a year."""

    __tablename__ = "case_counter"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class Case(Base):
    """A problem reported by a resident, a supervisor or another system."""

    __tablename__ = "cases"  # "case" is an SQL keyword
    __table_args__ = (
        CheckConstraint(_in("state", STATES), name="state"),
        CheckConstraint(_in("source", SOURCES), name="source"),
        CheckConstraint(_in("priority", ("urgent", "high", "normal", "low")), name="priority"),
        CheckConstraint("lat BETWEEN -90 AND 90 AND lng BETWEEN -180 AND 180", name="position"),
        Index("ix_cases_lat_lng", "lat", "lng"),
        Index("ix_cases_state_created_at", "state", "created_at"),
        # The KPIs count a month's cases by creation time.
        Index("ix_cases_created_at", "created_at"),
        Index("ix_cases_respond_due_at", "respond_due_at"),
        Index("ix_cases_resolve_due_at", "resolve_due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"), index=True)
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zone.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    state: Mapped[str] = mapped_column(String(20), default="submitted")
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    source: Mapped[str] = mapped_column(String(20), default="web")
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    address: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(Text)
    major_hazard: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    # From a blocked sender: kept out of public view, routing and mail until staff review it.
    held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The block-list entry that held it, so the list can say how much each entry holds.
    blocked_sender_id: Mapped[int | None] = mapped_column(
        ForeignKey("blocked_sender.id", ondelete="SET NULL"), index=True
    )

    # Private: never rendered on public pages or APIs.
    reporter_name: Mapped[str] = mapped_column(String(100), default="")
    reporter_phone: Mapped[str] = mapped_column(String(40), default="")
    reporter_email: Mapped[str] = mapped_column(String(255), default="")
    reporter_hide_name: Mapped[bool] = mapped_column(Boolean, default=True)
    tracking_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The 6-digit query code (查询码) given at submission, keyed-hashed: see case_links.
    query_code_hash: Mapped[str] = mapped_column(String(64), default="", server_default="")

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    respond_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolve_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The next moment the sweep must look at each clock: at 75% it reminds, at 100% it
    # escalates, then NULL. Only clocks needing attention are in the index.
    respond_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    resolve_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    respond_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolve_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    respond_escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolve_escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suggested_department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id"), index=True
    )
    # Findings of a supervisor's inspection point back at the site and the checklist item.
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), index=True)
    inspection_id: Mapped[int | None] = mapped_column(ForeignKey("inspection.id"), index=True)
    inspection_item: Mapped[str] = mapped_column(String(20), default="", server_default="")
    reporter_locale: Mapped[str] = mapped_column(
        String(10), default="zh_Hans_CN", server_default="zh_Hans_CN"
    )
    # Answers to the category's extra questions, by question code.
    attributes: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    # The outside system that posted the case through Open311 (source "api").
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"), index=True)
    # What staff must look at before working the case, as codes of CASE_FLAGS: the report
    # was accepted rather than refused for something its sender could not fix.
    flags: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    # Photo links an Open311 client sent from hosts the office does not fetch from: shown
    # to staff as plain links, never fetched by the portal.
    media_links: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    # Private, like the contact details: the sending device's id (Open311 device_id).
    reporter_device_id: Mapped[str] = mapped_column(String(100), default="", server_default="")
    # That system's own id of the person who reported (Open311 account_id): echoed to that
    # system only.
    account_id: Mapped[str] = mapped_column(String(255), default="", server_default="")

    followers_count: Mapped[int] = mapped_column(Integer, default=0)
    # The latest rating the resident gave, whatever its cycle: what the KPIs count. Each
    # cycle's own rating is a CaseRating.
    rating: Mapped[str | None] = mapped_column(String(20))
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    # The resolution cycle the case is in: 1, then one more each time it goes back for
    # rework (sent back by staff or reopened by the resident).
    cycle: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    version_id: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version_id}

    category: Mapped[Category] = relationship()
    zone: Mapped[Zone | None] = relationship()
    department: Mapped[Department | None] = relationship(foreign_keys=[department_id])
    suggested_department: Mapped[Department | None] = relationship(
        foreign_keys=[suggested_department_id]
    )
    merged_into: Mapped[Case | None] = relationship(remote_side=[id])
    api_key: Mapped[ApiKey | None] = relationship()
    inspection: Mapped[Inspection | None] = relationship()  # noqa: F821 - declared later
    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.created_at, CaseEvent.id"
    )
    photos: Mapped[list[Photo]] = relationship(
        back_populates="case", order_by="Photo.position, Photo.id"
    )
    ratings: Mapped[list[CaseRating]] = relationship(
        back_populates="case", order_by="CaseRating.cycle"
    )

    @hybrid_property
    def is_public(self) -> bool:
        """Tell whether the public may see the case: not hidden by a moderator, not held."""
        return not self.hidden and not self.held

    @is_public.inplace.expression
    @classmethod
    def _is_public_expression(cls):
        return and_(cls.hidden.is_(False), cls.held.is_(False))

    @property
    def is_open(self) -> bool:
        """Tell whether the case still awaits an answer (Open311 'open')."""
        return self.state in OPEN_STATES

    @property
    def public_events(self) -> list[CaseEvent]:
        """Return the timeline as the public sees it."""
        return [e for e in self.events if e.public]


class CaseEvent(Base):
    """One entry on a case's timeline."""

    __tablename__ = "case_event"
    __table_args__ = (
        Index("ix_case_event_case_id_created_at", "case_id", "created_at"),
        # An outside system's update is stored once per its own update_id, even under a race.
        UniqueConstraint("api_key_id", "external_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(30))
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str | None] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), index=True)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # An update posted through Open311: the system that sent it and that system's update_id.
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))
    external_id: Mapped[str | None] = mapped_column(String(255))

    case: Mapped[Case] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()
    api_key: Mapped[ApiKey | None] = relationship()


class CaseRating(Base):
    """The resident's rating of one resolution cycle of a case (满意 / 基本满意 / 不满意)."""

    __tablename__ = "case_rating"
    __table_args__ = (
        # One rating per cycle, even when two tabs send one at once.
        UniqueConstraint("case_id", "cycle"),
        CheckConstraint(_in("rating", RATINGS), name="rating"),
        CheckConstraint(_in("case_state", ("resolved", "closed")), name="case_state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    cycle: Mapped[int] = mapped_column(Integer)
    rating: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(Text, default="", server_default="")
    # "resolved": the resident said it is fixed before staff verified the work; "closed": after.
    case_state: Mapped[str] = mapped_column(String(20), default="closed", server_default="closed")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="ratings")


class Photo(Base):
    """A photo attached to a case, stored by content hash."""

    __tablename__ = "photo"
    __table_args__ = (CheckConstraint("kind IN ('report', 'after')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("case_event.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(10), default="report")
    position: Mapped[int] = mapped_column(Integer, default=0)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="photos")


class PendingPhoto(Base):
    """A checked photo kept for a report form that has not been accepted yet (it had an
    error): tied to the form's random token, attached to no case, purged after a day."""

    __tablename__ = "pending_photo"

    id: Mapped[int] = mapped_column(primary_key=True)
    form_token: Mapped[str] = mapped_column(String(64), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    # The photo's own GPS, which places a report sent without a pin.
    gps_lat: Mapped[float | None] = mapped_column(Float)
    gps_lng: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class CaseFollower(Base):
    """Someone who said "me too" on a case and wants its updates."""

    __tablename__ = "case_follower"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    email: Mapped[str] = mapped_column(String(255), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    locale: Mapped[str] = mapped_column(
        String(10), default="zh_Hans_CN", server_default="zh_Hans_CN"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship()
