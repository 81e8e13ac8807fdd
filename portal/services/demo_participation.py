"""Demo participation: an open and a closed consultation with moderated comments, and
residents' suggestions, adopted and declined."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Project, User
from portal.services import consultations, suggestions

OPEN = (
    "GS-2027-02",
    "教场路积水点改造方案征求意见",
    "教场路与环城北路交叉口一带每逢暴雨即积水，拟新建雨水泵站一座、翻建雨水管约600米。"
    "施工期间教场路将半幅通行约四个月。请就施工时段、临时交通组织和泵站选址提出意见。",
    [
        (
            "approved",
            "陈阿姨",
            "每次下大雨小区门口的水都要没过脚踝，早就盼着改造了，支持尽快开工。",
        ),
        (
            "approved",
            "",
            "半幅通行期间请保留公交站台，附近老人多，站台移太远不方便。建议晚上十点后不要施工。",
        ),
        ("approved", "周先生", "泵站不要紧挨着幼儿园，希望公示噪声和异味的控制措施。"),
        ("pending", "", "施工围挡能否留出非机动车道？早晚高峰电动车很多。"),
        ("pending", "路过的市民", "建议同时把人行道的破损地砖一起换掉，免得过两年又挖一次。"),
    ],
)
CLOSED = (
    "GS-2027-01",
    "信义坊地块配套道路设计方案征求意见",
    "信义坊地块配套道路全长约800米，设计为双向两车道并设置非机动车道和人行道。"
    "请就路口信号灯设置、停车泊位和行道树树种提出意见。",
    [
        (
            "approved",
            "林女士",
            "希望在学校门口的路口设置信号灯和斑马线，并安排上下学时段的护学岗。",
        ),
        ("approved", "", "路边停车泊位不宜过多，否则非机动车道经常被占用。"),
        ("approved", "老杭州", "行道树建议选用香樟，和周边道路保持一致，夏天也能遮阴。"),
        ("declined", "", "这条路修不修都一样，浪费钱。联系我13800000000。"),
    ],
)
DECLINE_REASON = "留言含有个人联系方式且与征求意见内容无关，依据留言规则不予公开。"
RESPONSE = (
    "本次征求意见共收到意见4条，其中有效意见3条，已全部转交设计单位研究。采纳情况如下："
    "一、学校门口路口增设信号灯和人行横道，上下学时段由属地街道安排护学岗；"
    "二、路内停车泊位由原设计的40个减少至24个，非机动车道采用物理隔离；"
    "三、行道树采用香樟。感谢市民朋友的关心和支持。"
)
SUGGESTIONS = [
    (
        "GS-2026-02",
        "大关路施工路段夜间增设警示灯",
        "大关路施工围挡转角处晚上很暗，骑车经过差点撞上。建议在围挡转角和出入口增设警示灯带。",
        "adopted",
        "已要求施工单位在围挡转角及出入口加装LED警示灯带，并纳入每日安全巡查内容。感谢您的建议。",
        True,
    ),
    (
        "GS-2026-01",
        "雨污分流施工公示牌增加二维码",
        "现场公示牌上的信息太少，建议加一个二维码，扫码就能看到工期、负责人和投诉渠道。",
        "adopted",
        "采纳。全区在建工程的公示牌将于下月起统一增加二维码，链接至本平台的项目页面。",
        False,
    ),
    (
        "",
        "在平台上开通积分兑换公交卡充值",
        "参与监督和建议得到的积分能不能兑换公交卡充值？这样大家会更积极。",
        "declined",
        "积分奖励办法由市里统一制定，目前暂不支持兑换现金类奖励，我们已将您的建议转报市城管局。",
        False,
    ),
    (
        "GS-2026-09",
        "台州路慢行道增加休息座椅",
        "慢行系统修好后希望每隔两三百米有一张座椅，方便老人散步休息。",
        "new",
        "",
        False,
    ),
]


def load_participation(session: Session, now: datetime, seed: int) -> dict[str, int]:
    """Create an open and a closed consultation with comments, and suggestions."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not a secret
    projects = {p.code: p for p in session.scalars(select(Project))}
    staff = session.scalar(select(User).where(User.role == "dispatcher"))
    supervisor = session.scalar(select(User).where(User.role == "supervisor").order_by(User.id))
    comments = 0
    for spec, opened, closes_after in (
        (OPEN, now - timedelta(days=6), 20),
        (CLOSED, now - timedelta(days=60), 30),
    ):
        code, title, question, said = spec
        consultation = consultations.start(
            session,
            staff,
            projects[code],
            title,
            question,
            consultations.local_today(opened) + timedelta(days=closes_after),
            opened,
        )
        for k, (status, name, body) in enumerate(said):
            when = opened + timedelta(days=k + 1, hours=rng.randint(8, 20))
            comment, _ = consultations.add_comment(session, consultation, body, when, name)
            moderated = min(when + timedelta(hours=rng.randint(2, 20)), now)
            if status == "approved":
                consultations.approve(session, staff, comment, moderated)
            elif status == "declined":
                consultations.decline(session, staff, comment, DECLINE_REASON, moderated)
            comments += 1
        if spec is CLOSED:
            consultations.respond(session, staff, consultation, RESPONSE, now - timedelta(days=20))
    for k, (code, title, body, status, answer, by_supervisor) in enumerate(SUGGESTIONS):
        sent = now - timedelta(days=40 - 8 * k, hours=rng.randint(0, 12))
        suggestion, _ = suggestions.send(
            session,
            title,
            body,
            sent,
            project=projects.get(code),
            user=supervisor if by_supervisor else None,
            email="" if by_supervisor else f"resident{k + 1}@demo.example.cn",
        )
        decided = sent + timedelta(days=3)
        if status == "adopted":
            suggestions.adopt(session, staff, suggestion, answer, decided)
        elif status == "declined":
            suggestions.decline(session, staff, suggestion, answer, decided)
    session.flush()
    return {"consultations": 2, "consultation comments": comments, "suggestions": len(SUGGESTIONS)}
