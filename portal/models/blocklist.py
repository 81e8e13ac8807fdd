"""Senders whose reports are held for review: addresses, e-mails and phones staff list."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.org import User

BLOCK_KINDS = ("ip", "email", "phone")


class BlockedSender(Base):
    """An address (or network), e-mail or phone whose reports are accepted but held."""

    __tablename__ = "blocked_sender"
    __table_args__ = (
        CheckConstraint("kind IN ('ip', 'email', 'phone')", name="kind"),
        UniqueConstraint("kind", "value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    # Normalized: lower-case e-mail, digits of a phone, an address or network in CIDR form.
    value: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by: Mapped[User | None] = relationship()
