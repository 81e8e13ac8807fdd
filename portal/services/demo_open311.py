"""Demo data for Open311: the extra questions of a few categories (service attributes)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Category, CategoryAttribute

COVER_TYPES = [
    ("rain", "雨水井盖", "Storm drain"),
    ("sewage", "污水井盖", "Sewer"),
    ("power", "电力井盖", "Power"),
    ("telecom", "通信井盖", "Telecom"),
    ("gas", "燃气井盖", "Gas"),
    ("unknown", "不清楚", "Not sure"),
]
LANES = [
    ("carriageway", "机动车道", "Carriageway"),
    ("cycle", "非机动车道", "Cycle lane"),
    ("pavement", "人行道", "Pavement"),
]
DEPTHS = [
    ("ankle", "没过脚踝（约10厘米）", "Ankle deep (about 10 cm)"),
    ("knee", "没过膝盖（约40厘米）", "Knee deep (about 40 cm)"),
    ("deeper", "更深，车辆无法通行", "Deeper: vehicles cannot pass"),
]
SITE_PROBLEMS = [
    ("dust", "扬尘未覆盖", "Uncovered dust"),
    ("noise", "噪声扰民", "Noise"),
    ("night", "夜间施工", "Night work"),
    ("muck", "渣土撒漏", "Spilled muck"),
    ("hoarding", "围挡缺失", "Missing hoarding"),
]

# category code → (code, datatype, required, question zh, question en, values)
QUESTIONS: dict[str, list[tuple]] = {
    "0401": [
        ("cover_type", "singlevaluelist", False, "井盖类型", "Type of cover", COVER_TYPES),
        ("lane", "singlevaluelist", False, "所在位置", "Where on the road", LANES),
    ],
    "0402": [
        ("cover_type", "singlevaluelist", True, "井盖类型", "Type of cover", COVER_TYPES),
        ("lane", "singlevaluelist", False, "所在位置", "Where on the road", LANES),
    ],
    "0301": [
        ("pole_number", "string", False, "灯杆编号", "Lamp post number", []),
        ("lamps_out", "number", False, "不亮的路灯盏数", "How many lights are out", []),
    ],
    "0101": [
        ("depth_cm", "number", False, "坑深（厘米，估计）", "Depth in cm (estimate)", []),
    ],
    "0204": [
        ("water_depth", "singlevaluelist", True, "积水深度", "Depth of the water", DEPTHS),
        ("since", "datetime", False, "开始积水的时间", "Since when", []),
    ],
    "0701": [
        ("problems", "multivaluelist", False, "存在的问题", "What is wrong", SITE_PROBLEMS),
        ("site_name", "string", False, "工地名称或围挡上的项目名", "Site or project name", []),
        ("details", "text", False, "补充说明", "Anything else", []),
    ],
}


def load_questions(session: Session) -> dict[str, int]:
    """Give the demo categories their extra questions; return how many were added."""
    added = 0
    for code, questions in QUESTIONS.items():
        category = session.scalar(select(Category).where(Category.code == code))
        if category is None or category.attributes:
            continue
        for order, (key, datatype, required, zh, en, values) in enumerate(questions, start=1):
            category.attributes.append(
                CategoryAttribute(
                    code=key,
                    datatype=datatype,
                    required=required,
                    description_zh=zh,
                    description_en=en,
                    order=order,
                    values=[{"key": k, "name_zh": z, "name_en": e} for k, z, e in values],
                )
            )
            added += 1
    session.flush()
    return {"category questions": added}
