"""Demo progress notices: six months of what the office told the public about its works."""

from __future__ import annotations

import io
import random
from datetime import datetime, timedelta

from PIL import Image, ImageDraw
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Case, Notice, Project, User
from portal.services import geo, notices
from portal.services.photos import PhotoStore, process

# (days ago, project, kind, title, body in Markdown, link nearby residents' cases)
NOTICES = [
    (
        170,
        "GS-2026-01",
        "traffic",
        "湖墅南路雨污分流改造工程施工期间交通组织公告",
        "因湖墅南路雨污分流改造工程施工需要，自即日起至工程完工，"
        "**湖墅南路（米市巷至大关路段）** 实行半幅封闭施工：\n\n"
        "- 机动车双向各保留一条车道通行；\n"
        "- 非机动车和行人请按现场指示牌绕行；\n"
        "- 沿线公交站点临时北移约 50 米。\n\n"
        "请过往车辆和行人注意安全，给您带来的不便敬请谅解。",
        True,
    ),
    (
        150,
        "GS-2026-02",
        "progress",
        "大关路道路提升工程开工",
        "大关路道路提升工程已于本月开工，主要内容包括：\n\n"
        "1. 机动车道沥青路面铣刨重铺；\n"
        "2. 人行道铺装更新及无障碍坡道改造；\n"
        "3. 沿线雨水口及检查井提升。\n\n"
        "计划工期 **八个月**，施工单位为杭州市政建设集团有限公司。",
        False,
    ),
    (
        128,
        "GS-2026-05",
        "traffic",
        "登云路桥维修加固期间夜间封闭通行的通告",
        "登云路桥维修加固工程将进行桥面伸缩缝更换作业，"
        "每日 **22:00 至次日 5:00** 封闭桥面交通，白天正常通行。\n\n"
        "夜间车辆请经湖州街、莫干山路绕行。",
        False,
    ),
    (
        110,
        "GS-2026-01",
        "progress",
        "湖墅南路雨污分流改造工程第一阶段进展",
        "截至本月中旬，湖墅南路雨污分流改造工程已完成：\n\n"
        "| 项目 | 完成量 | 占比 |\n|---|---|---|\n"
        "| 污水管道铺设 | 860 米 | 62% |\n| 检查井砌筑 | 28 座 | 55% |\n"
        "| 路面临时恢复 | 1200 平方米 | 48% |\n\n"
        "市民在施工期间反映的围挡倒伏、扬尘等问题已督促施工单位整改。",
        True,
    ),
    (
        92,
        "GS-2026-07",
        "consultation_result",
        "湖州街交通设施完善方案征求意见结果",
        "湖州街交通设施完善方案于上月公开征求意见，共收到市民意见 **46 条**。\n\n"
        "- 采纳：增设学校门口过街信号灯、调整公交港湾位置；\n"
        "- 部分采纳：非机动车道隔离设施改为低矮绿化带；\n"
        "- 未采纳：取消路内停车位（该路段周边停车资源不足）。\n\n"
        "感谢广大市民的积极参与。",
        False,
    ),
    (
        75,
        "GS-2026-04",
        "progress",
        "米市巷路灯节能改造工程完成过半",
        "米市巷路灯节能改造工程已完成 **126 盏** 路灯的 LED 灯具更换，"
        "占总量的 58%。改造后的路段照度提升，能耗预计下降约四成。\n\n"
        "剩余灯具更换将在夜间进行，不影响道路通行。",
        False,
    ),
    (
        60,
        "GS-2026-03",
        "traffic",
        "小河路人行道改造施工期间行人绕行提示",
        "小河路人行道改造工程进入东侧人行道施工阶段，"
        "东侧人行道临时封闭，请行人走西侧人行道或经临时通道通行。\n\n"
        "施工期间如发现安全隐患，请通过本平台 [反映问题](/report/new)。",
        True,
    ),
    (
        44,
        "GS-2026-06",
        "progress",
        "上塘路排水管网修复工程进展",
        "上塘路排水管网修复工程采用 **非开挖紫外光固化修复** 工艺，"
        "已完成 14 段管道修复，减少了对交通的影响。\n\n"
        "> 汛期前将全部完成，届时该路段积水问题将得到明显改善。",
        False,
    ),
    (
        30,
        "GS-2026-10",
        "completion",
        "丽水路道路大修工程完工公告",
        "丽水路道路大修工程已全面完工，道路于本周恢复双向通行。\n\n"
        "工程完成沥青路面重铺 **9800 平方米**，更换破损侧石 620 米，"
        "并已通过竣工验收。保修期内如发现路面问题，请通过本平台反映。",
        True,
    ),
    (
        18,
        "GS-2026-09",
        "progress",
        "台州路慢行系统工程绿道段贯通",
        "台州路慢行系统工程绿道段已全线贯通，新增慢行道 1.4 公里，"
        "设置休憩节点 3 处。后续将进行标志标线施划和绿化补植。",
        False,
    ),
    (
        7,
        "GS-2026-02",
        "progress",
        "大关路道路提升工程路面摊铺完成",
        "大关路道路提升工程已完成机动车道沥青摊铺，"
        "目前正在进行人行道铺装和交通标线施划，预计下月底全线完工。",
        False,
    ),
]
WITHDRAWN = 2  # the bridge closure notice: its dates were wrong
WITHDRAW_REASON = "通告中夜间封闭时段有误，已重新发布更正后的通告。"
CORRECTED = (
    126,
    "GS-2026-05",
    "traffic",
    "登云路桥维修加固期间夜间封闭通行的通告（更正）",
    "登云路桥维修加固工程将进行桥面伸缩缝更换作业，"
    "每日 **23:00 至次日 5:00** 封闭桥面交通，白天正常通行。\n\n"
    "夜间车辆请经湖州街、莫干山路绕行。原通告中的封闭时段有误，以本通告为准。",
    False,
)
COVERED = 8  # the completion notice has a photo of the finished road
SCHEDULED = (
    "GS-2026-08",
    "traffic",
    "德胜路绿化带改造施工交通影响提示",
    "德胜路绿化带改造工程将于下周起进行中央分隔带施工，"
    "施工路段内侧车道临时封闭，请车辆减速慢行、注意避让。",
)


def _road_photo(rng: random.Random) -> bytes:
    image = Image.new("RGB", (1200, 800), (150, 190, 230))
    draw = ImageDraw.Draw(image)
    draw.polygon([(0, 800), (1200, 800), (700, 380), (500, 380)], fill=(60, 60, 64))
    for y in range(420, 800, 70):
        draw.rectangle((596, y, 604, y + 35), fill=(240, 240, 240))
    draw.rectangle((0, 330 + rng.randint(0, 30), 1200, 380), fill=(90, 140, 80))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _nearby_cases(session: Session, project: Project) -> list[str]:
    """Return the numbers of up to two residents' cases within 300 m of a project's site."""
    min_lat, min_lng, max_lat, max_lng = geo.bbox_around(project.lat, project.lng, 300)
    found = session.scalars(
        select(Case.number)
        .where(
            Case.lat.between(min_lat, max_lat),
            Case.lng.between(min_lng, max_lng),
            Case.is_public,
            Case.source != "inspection",
        )
        .order_by(Case.number)
        .limit(2)
    )
    return list(found)


def load_notices(session: Session, store: PhotoStore, now: datetime, seed: int) -> dict[str, int]:
    """Write and publish the demo notices, withdraw one, schedule one, give one a cover."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not a secret
    staff = session.scalars(
        select(User).where(User.role.in_(("dispatcher", "admin"))).order_by(User.id)
    ).all()
    projects = {p.code: p for p in session.scalars(select(Project))}
    written = []
    for n, (days, code, kind, title, body, linked) in enumerate([*NOTICES, CORRECTED]):
        author = staff[n % len(staff)]
        at = now - timedelta(days=days, hours=rng.randint(0, 6))
        project = projects[code]
        draft = notices.NoticeDraft(
            title=title,
            body=body,
            kind=kind,
            project=project,
            case_numbers=_nearby_cases(session, project) if linked else [],
        )
        if n == COVERED:
            draft.cover = process(io.BytesIO(_road_photo(rng)), max_bytes=10**7)
        notice = notices.save(session, author, Notice(), draft, store, at - timedelta(hours=3))
        notices.publish(session, author, notice, now=at)
        written.append(notice)
    withdrawn = written[WITHDRAWN]
    notices.withdraw(
        session, staff[-1], withdrawn, WITHDRAW_REASON, withdrawn.publish_at + timedelta(days=2)
    )
    code, kind, title, body = SCHEDULED
    later = notices.save(
        session,
        staff[0],
        Notice(),
        notices.NoticeDraft(title=title, body=body, kind=kind, project=projects[code]),
        store,
        now,
    )
    notices.publish(session, staff[0], later, now, at=now + timedelta(days=3))
    return {"notices": len(written) + 1}
