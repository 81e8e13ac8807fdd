"""How often the records behind each month's KPIs have changed, for caching past months."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, Integer
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base


class KpiVersion(Base):
    """A counter bumped whenever a case, inspection or acceptance counted in a month changes.

    The row of 0001-01-01 counts changes that may touch any month (a project moved, a zone
    redrawn, a bulk update).
    """

    __tablename__ = "kpi_version"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
