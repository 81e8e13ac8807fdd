"""Versions of what the workers keep in memory, bumped with the data they depend on."""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base


class CacheVersion(Base):
    """A counter bumped in the same transaction as any change to the rows a cache holds
    (`portal/services/reference.py`: "reference", the categories, zones, departments, SLA
    policies, routing rules and calendar the queue page reads). A worker compares it with
    the version its copy was read at, so a change is seen by every worker and node as soon
    as it commits, whatever process made it."""

    __tablename__ = "cache_version"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
