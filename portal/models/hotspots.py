"""Grid hotspots (网格化): a week when a grid cell had clearly more cases of a group than usual."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, Float, ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.catalog import CategoryGroup
from portal.models.org import Zone


class Hotspot(Base):
    """One grid cell and category group whose week's count is far above its own baseline.

    Kept for history: recomputing a week replaces that week's rows only."""

    __tablename__ = "hotspot"
    __table_args__ = (UniqueConstraint("week_start", "zone_id", "group_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    week_start: Mapped[date] = mapped_column(Date, index=True)  # the Monday, local time
    zone_id: Mapped[int] = mapped_column(ForeignKey("zone.id"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("category_group.id"), index=True)
    observed: Mapped[int] = mapped_column(Integer)
    expected: Mapped[float] = mapped_column(Float)  # the mean of the baseline weeks
    baseline_weeks: Mapped[int] = mapped_column(Integer)
    p_value: Mapped[float] = mapped_column(Float)  # the test's p-value (see services.hotspots)
    case_ids: Mapped[list] = mapped_column(JSON, default=list)  # the cases behind it
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    zone: Mapped[Zone] = relationship()
    group: Mapped[CategoryGroup] = relationship()
