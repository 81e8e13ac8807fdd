"""Residents take part: consultations on planned projects, and suggestions to the office."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.org import User
from portal.models.works import Project

# Only works still being planned are put to the public (立项, 招标).
CONSULTED_PHASES = ("approval", "tender")
COMMENT_STATUSES = ("pending", "approved", "declined")
SUGGESTION_STATUSES = ("new", "adopted", "declined")


class Consultation(Base):
    """A planned project opened for public comments until a date (征求意见)."""

    __tablename__ = "consultation"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(Text)  # what the office asks the public
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Comments are taken until the end of this day, in the office's time zone.
    closes_on: Mapped[date] = mapped_column(Date, index=True)
    response: Mapped[str] = mapped_column(Text, default="")
    responded_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    project: Mapped[Project] = relationship()
    responded_by: Mapped[User | None] = relationship(foreign_keys=[responded_by_id])
    comments: Mapped[list[ConsultationComment]] = relationship(
        back_populates="consultation", order_by="ConsultationComment.created_at"
    )


class ConsultationComment(Base):
    """A resident's comment on a consultation, shown once a moderator approves it."""

    __tablename__ = "consultation_comment"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'declined')", name="status"),
        Index("ix_consultation_comment_consultation_status", "consultation_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultation.id"))
    body: Mapped[str] = mapped_column(Text)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    # Private: only staff see how to reach the commenter.
    email: Mapped[str] = mapped_column(String(255), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    status: Mapped[str] = mapped_column(String(10), default="pending")
    # From a blocked sender: out of the moderation queue until staff review it.
    held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    blocked_sender_id: Mapped[int | None] = mapped_column(
        ForeignKey("blocked_sender.id", ondelete="SET NULL"), index=True
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    moderated_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    moderated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tracking_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    locale: Mapped[str] = mapped_column(String(10), default="zh_Hans_CN")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    consultation: Mapped[Consultation] = relationship(back_populates="comments")
    moderated_by: Mapped[User | None] = relationship()


class Suggestion(Base):
    """A resident's idea for the office (建议); adopted ones are public and earn points."""

    __tablename__ = "suggestion"
    __table_args__ = (
        CheckConstraint("status IN ('new', 'adopted', 'declined')", name="status"),
        Index("ix_suggestion_status_decided_at", "status", "decided_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), index=True)
    # Private: only staff see how to reach the resident.
    email: Mapped[str] = mapped_column(String(255), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    # A signed-in supervisor's suggestion earns points on their account.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), index=True)
    tracking_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="new")
    # From a blocked sender: out of the office's list until staff review it.
    held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    blocked_sender_id: Mapped[int | None] = mapped_column(
        ForeignKey("blocked_sender.id", ondelete="SET NULL"), index=True
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    points: Mapped[int] = mapped_column(Integer, default=0)
    locale: Mapped[str] = mapped_column(String(10), default="zh_Hans_CN")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    project: Mapped[Project | None] = relationship()
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
