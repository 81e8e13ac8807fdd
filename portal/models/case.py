"""Cases, their timeline, photos and followers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Computed,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    false,
    text,
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
SOURCES = ("web", "api", "inspection", "phone", "letter", "visit", "sensor")
# Why staff must look at a case first (its flags), each accepted instead of refused.
CASE_FLAGS = (
    "photo_missing",
    "media_link",
    "answer_as_text",
    "answer_missing",
    "contact_unchecked",
    "personal_data",
)
# What a moderator can do to a case: each is kept with the original and can be undone.
MODERATION_KINDS = ("redact", "hide_photo", "blur_photo", "hide_case")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class CaseCounter(Base):
    """The last case number handed out in a year."""

    __tablename__ = "case_counter"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


# A case's next unanswered deadline: the queues' order. A generated column (stored on
# PostgreSQL, virtual on SQLite) so that one index serves the order of every queue view.
NEXT_DUE_SQL = (
    "CASE WHEN state IN ('resolved', 'closed', 'rejected', 'duplicate') THEN NULL "
    "WHEN responded_at IS NULL THEN respond_due_at ELSE resolve_due_at END"
)


# A dispatcher's 待办 (every step waiting for a dispatcher: to accept, to dispatch, to
# verify, an extension to decide), the first screen: its own partial index, whose condition
# the query repeats word for word with literals (services/queues.py), as SQLite requires to
# use it. Without it the count read the table until it found 1,001 cases. On SQLite only
# (see the index below).
NEEDS_ME_STATES = ("submitted", "accepted", "resolved")
NEEDS_ME_SQL = (
    f"state IN ({', '.join(repr(s) for s in NEEDS_ME_STATES)}) OR extension_minutes IS NOT NULL"
)


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
        # The queues' order (raised by a resident's news first, then the next deadline, none
        # last, then the oldest), alone, within a state and within a department: page 1 of
        # any view reads a page, not the table.
        # `held` is in each, so that counting a view reads the index alone.
        Index(
            "ix_cases_queue",
            "held",
            text("(attention_at IS NULL)"),
            text("(next_due_at IS NULL)"),
            "next_due_at",
            "created_at",
        ),
        Index(
            "ix_cases_state_queue",
            "state",
            "held",
            text("(attention_at IS NULL)"),
            text("(next_due_at IS NULL)"),
            "next_due_at",
            "created_at",
        ),
        Index(
            "ix_cases_department_queue",
            "department_id",
            "held",
            text("(attention_at IS NULL)"),
            text("(next_due_at IS NULL)"),
            "next_due_at",
            "created_at",
        ),
        # The views of a few open cases (a handler's own, paused, reworked, asking for more
        # time), each in the queue's order: their page and count read their own cases, not
        # every open one (nor every case of the department).
        # The state after `held`: SQLite takes the index with the most equal columns.
        *(
            Index(
                name,
                *lead,
                "held",
                "state",
                text("(attention_at IS NULL)"),
                text("(next_due_at IS NULL)"),
                "next_due_at",
                "created_at",
                sqlite_where=text(where),
                postgresql_where=text(where),
            )
            for name, lead, where in (
                ("ix_cases_assignee_queue", ["assignee_id"], "assignee_id IS NOT NULL"),
                ("ix_cases_paused_queue", [], "paused_at IS NOT NULL"),
                ("ix_cases_reworked_queue", [], "cycle > 1"),
                ("ix_cases_extension_queue", [], "extension_minutes IS NOT NULL"),
            )
        ),
        # A dispatcher's 待办 (see NEEDS_ME_SQL): thousands of cases over three states, so in
        # the queue's order without the state. SQLite only: PostgreSQL took it for 待核查
        # (resolved cases, whose deadline is none: last in it) and read it to the end.
        Index(
            "ix_cases_todo_queue",
            "held",
            text("(attention_at IS NULL)"),
            text("(next_due_at IS NULL)"),
            "next_due_at",
            "created_at",
            sqlite_where=text(NEEDS_ME_SQL),
        ).ddl_if(dialect="sqlite"),
        # 即将超期 (due in the next 24 hours) on PostgreSQL: in the indexes above its window
        # sits behind the attention flag, and PostgreSQL cannot skip-scan, so it read every
        # overdue entry first. Its running clocks by deadline: the window is a range, counted
        # from the index alone. Not on SQLite, which took it for 超期 and sorted every
        # overdue case (its planner keeps the queue's order from the indexes above).
        Index(
            "ix_cases_running_due",
            "next_due_at",
            postgresql_where=text("held = false AND paused_at IS NULL AND next_due_at IS NOT NULL"),
        ).ddl_if(dialect="postgresql"),
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
    # Part of what the public sees was hidden by a moderator (text redacted, a photo hidden or
    # blurred): the public page, Open311, exports and feeds say so.
    moderated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
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
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, Computed(NEXT_DUE_SQL))
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
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facility.id"), index=True)
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

    # The department that held the case when each clock ran out: the KPIs charge the miss to
    # it, not to whoever holds the case later.
    respond_missed_by_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    resolve_missed_by_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))

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
    # The person within the department who works the case (分配到人).
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), index=True)
    # A handler's pending request for more time (延期申请): the working (or calendar)
    # minutes asked for, until a dispatcher approves or declines it.
    extension_minutes: Mapped[int | None] = mapped_column(Integer)
    # Set when the resident answered, reopened or said "not fixed": the case rises in its
    # handlers' queue until one of them acts on it.
    attention_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    version_id: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version_id}

    category: Mapped[Category] = relationship()
    zone: Mapped[Zone | None] = relationship()
    department: Mapped[Department | None] = relationship(foreign_keys=[department_id])
    respond_missed_by: Mapped[Department | None] = relationship(foreign_keys=[respond_missed_by_id])
    resolve_missed_by: Mapped[Department | None] = relationship(foreign_keys=[resolve_missed_by_id])
    suggested_department: Mapped[Department | None] = relationship(
        foreign_keys=[suggested_department_id]
    )
    merged_into: Mapped[Case | None] = relationship(remote_side=[id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    api_key: Mapped[ApiKey | None] = relationship()
    inspection: Mapped[Inspection | None] = relationship()  # noqa: F821 - declared later
    facility: Mapped[Facility | None] = relationship()  # noqa: F821 - declared later
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

    @property
    def public_photos(self) -> list[Photo]:
        """Return the photos the public sees: all but those a moderator hid."""
        return [p for p in self.photos if not p.hidden]


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
    # Part of the body was redacted by a moderator (the original is in its Moderation).
    moderated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
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
    # Hidden from the public by a moderator; staff still see it.
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="photos")


class Moderation(Base):
    """One moderator's change to what the public sees of a case, with the original kept
    privately so that an admin can undo it."""

    __tablename__ = "moderation"
    __table_args__ = (CheckConstraint(_in("kind", MODERATION_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    # What was changed: the description (neither), a timeline reply, or a photo.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("case_event.id"), index=True)
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("photo.id"), index=True)
    # A redaction's text before and after; a blurred photo's file before and after.
    original_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    redacted_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    original_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    blurred_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[Case] = relationship()
    event: Mapped[CaseEvent | None] = relationship()
    photo: Mapped[Photo | None] = relationship()
    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])
    undone_by: Mapped[User | None] = relationship(foreign_keys=[undone_by_id])


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
