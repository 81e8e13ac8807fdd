"""Second sign-in factor: an account's TOTP secret and its single-use recovery codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.org import User


class AccountTotp(Base):
    """An account's authenticator secret; enrollment is pending until `enabled_at` is set."""

    __tablename__ = "account_totp"

    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    # Plain base32: codes are checked against it, so it cannot be hashed (see README, Security).
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The 30-second step of the last accepted code: that code and older ones are refused.
    last_step: Mapped[int | None] = mapped_column(BigInteger)

    account: Mapped[User] = relationship()


class RecoveryCode(Base):
    """One single-use recovery code, kept only as its SHA-256 digest."""

    __tablename__ = "account_recovery_code"
    __table_args__ = (UniqueConstraint("account_id", "code_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
