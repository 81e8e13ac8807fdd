"""Progress notices (工程进展公告): what the office tells the public about its works."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.case import Case
from portal.models.org import User, Zone
from portal.models.works import Project

NOTICE_KINDS = ("progress", "completion", "traffic", "consultation_result")

notice_case = Table(
    "notice_case",
    Base.metadata,
    Column("notice_id", ForeignKey("notice.id", ondelete="CASCADE"), primary_key=True),
    Column("case_id", ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Notice(Base):
    """A notice about a project or cases: a draft, scheduled, published, or withdrawn."""

    __tablename__ = "notice"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('progress', 'completion', 'traffic', 'consultation_result')", name="kind"
        ),
        CheckConstraint(
            "withdrawn_at IS NULL OR publish_at IS NOT NULL", name="withdrawn_after_publishing"
        ),
        Index("ix_notice_publish_at", "publish_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")  # Markdown
    kind: Mapped[str] = mapped_column(String(30), default="progress")
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), index=True)
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zone.id"), index=True)
    cover_sha256: Mapped[str | None] = mapped_column(String(64))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # NULL: a draft. In the future: scheduled. Otherwise published since then.
    publish_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdraw_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))

    project: Mapped[Project | None] = relationship()
    zone: Mapped[Zone | None] = relationship()
    author: Mapped[User | None] = relationship(foreign_keys=[author_id])
    withdrawn_by: Mapped[User | None] = relationship(foreign_keys=[withdrawn_by_id])
    cases: Mapped[list[Case]] = relationship(secondary=notice_case, order_by=Case.number)

    def status(self, now: datetime) -> str:
        """Return draft, scheduled, published or withdrawn, as of a moment."""
        if self.withdrawn_at is not None:
            return "withdrawn"
        if self.publish_at is None:
            return "draft"
        return "scheduled" if self.publish_at > now else "published"

    def is_public(self, now: datetime) -> bool:
        """Tell whether the public may see the notice (withdrawn ones stay, marked)."""
        return self.publish_at is not None and self.publish_at <= now

    @property
    def feed_updated(self) -> datetime:
        """Return when the public last saw the notice change: published or withdrawn."""
        return self.withdrawn_at or self.publish_at or self.updated_at
