"""Categories of problems and the service levels that apply to them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, BilingualName, in_english

PRIORITIES = ("urgent", "high", "normal", "low")
CATEGORY_KINDS = ("component", "event")
# The Open311 datatypes of a category's extra questions.
DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
LIST_DATATYPES = ("singlevaluelist", "multivaluelist")


class SlaPolicy(BilingualName, Base):
    """A set of respond and resolve targets, in working or calendar time."""

    __tablename__ = "sla_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    working_time: Mapped[bool] = mapped_column(Boolean, default=True)

    targets: Mapped[list[SlaTarget]] = relationship(
        back_populates="policy", cascade="all, delete-orphan"
    )

    def target_for(self, priority: str) -> SlaTarget | None:
        """Return the target for one priority, if the policy has it."""
        return next((t for t in self.targets if t.priority == priority), None)


class SlaTarget(Base):
    """How long the office has to respond and to resolve at one priority."""

    __tablename__ = "sla_target"
    __table_args__ = (UniqueConstraint("policy_id", "priority"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("sla_policy.id"))
    priority: Mapped[str] = mapped_column(String(10))
    respond_minutes: Mapped[int] = mapped_column(Integer)
    resolve_minutes: Mapped[int] = mapped_column(Integer)

    policy: Mapped[SlaPolicy] = relationship(back_populates="targets")


class CategoryGroup(BilingualName, Base):
    """A group of categories (roads, drainage, lighting ...)."""

    __tablename__ = "category_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)

    categories: Mapped[list[Category]] = relationship(
        back_populates="group", order_by="Category.sort_order"
    )


class Category(BilingualName, Base):
    """A kind of problem a resident can report (a component or an event)."""

    __tablename__ = "category"
    __table_args__ = (
        CheckConstraint("kind IN ('component', 'event')", name="kind"),
        CheckConstraint(
            "default_priority IN ('urgent', 'high', 'normal', 'low')", name="default_priority"
        ),
        CheckConstraint(
            "facility_state IN ('', 'damaged', 'missing', 'occupied')", name="facility_state"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("category_group.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    description_zh: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    keywords: Mapped[str] = mapped_column(String(255), default="")
    default_priority: Mapped[str] = mapped_column(String(10), default="normal")
    sla_policy_id: Mapped[int] = mapped_column(ForeignKey("sla_policy.id"), index=True)
    photo_required: Mapped[bool] = mapped_column(Boolean, default=False)
    major_hazard: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    # A report of this category names one facility of this type (路灯不亮 → 路灯).
    facility_type_id: Mapped[int | None] = mapped_column(ForeignKey("facility_type.id"), index=True)
    # The state an open case of this category puts its facility in (丢失 for 井盖缺失,
    # 破损 for 井盖破损), '' for none; the facility is 完好 again when the case is closed.
    facility_state: Mapped[str] = mapped_column(String(10), default="", server_default="")

    group: Mapped[CategoryGroup] = relationship(back_populates="categories")
    sla_policy: Mapped[SlaPolicy] = relationship()
    facility_type: Mapped[FacilityType | None] = relationship()  # noqa: F821 - declared later
    attributes: Mapped[list[CategoryAttribute]] = relationship(
        back_populates="category",
        order_by="CategoryAttribute.order, CategoryAttribute.id",
        cascade="all, delete-orphan",
    )


class CategoryAttribute(Base):
    """An extra question of a category (an Open311 service attribute)."""

    __tablename__ = "category_attribute"
    __table_args__ = (
        UniqueConstraint("category_id", "code"),
        CheckConstraint(
            "datatype IN ('string', 'number', 'datetime', 'text', 'singlevaluelist', "
            "'multivaluelist')",
            name="datatype",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    datatype: Mapped[str] = mapped_column(String(20))
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    description_zh: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    order: Mapped[int] = mapped_column(Integer, default=1)
    # For list datatypes: [{"key": ..., "name_zh": ..., "name_en": ...}, ...]
    values: Mapped[list] = mapped_column(JSON, default=list)

    category: Mapped[Category] = relationship(back_populates="attributes")

    @property
    def description(self) -> str:
        """Return the question in the language of the current request."""
        return self.description_en if in_english() and self.description_en else self.description_zh

    def value_names(self) -> list[tuple[str, str]]:
        """Return the allowed (key, name) pairs of a list question, in the current language."""
        english = in_english()
        return [
            (v["key"], (v.get("name_en") if english and v.get("name_en") else v["name_zh"]))
            for v in self.values or []
        ]


class ReplyTemplate(Base):
    """A ready-made public reply, for one category, a whole group, or every case."""

    __tablename__ = "reply_template"
    __table_args__ = (CheckConstraint("category_id IS NULL OR group_id IS NULL", name="one_scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("category_group.id"), index=True)
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)

    category: Mapped[Category | None] = relationship()
    group: Mapped[CategoryGroup | None] = relationship()
