"""Builders of test data, going through the same services the app uses."""

from __future__ import annotations

import io
import itertools
from datetime import datetime, timedelta

import pyotp
from PIL import Image
from PIL.TiffImagePlugin import IFDRational
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import (
    AccountTotp,
    Case,
    Category,
    Consultation,
    Device,
    Notice,
    Project,
    User,
    utcnow,
)
from portal.services import cases, consultations, devices, evidence, two_factor, works
from portal.services.photos import PhotoStore, ProcessedPhoto, process

_sequence = itertools.count(1)

# The demo district's centre, inside a grid cell.
CENTRE = (30.2741, 120.1551)


def jpeg_bytes(width: int = 640, height: int = 480, color: str = "orange", **save: object) -> bytes:
    """Return a real JPEG image."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "JPEG", **save)
    return buffer.getvalue()


def on_site(
    lat: float, lng: float, accuracy: float = 8.0, at: datetime | None = None
) -> evidence.Position:
    """Return a position as the phone's Geolocation API gives it: accurate and fresh."""
    return evidence.Position(lat, lng, accuracy, at or utcnow(), from_device=True)


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = ((value - degrees) * 60 - minutes) * 60
    return (
        IFDRational(degrees, 1),
        IFDRational(minutes, 1),
        IFDRational(round(seconds * 1e4), 10**4),
    )


def exif_jpeg_bytes(
    gps: tuple[float, float] | None = None,
    taken: datetime | None = None,
    offset: str | None = None,
    color: str = "olive",
) -> bytes:
    """Return a JPEG whose EXIF says where (GPS IFD) and when (DateTimeOriginal) it was taken."""
    exif = Image.Exif()
    if taken is not None:
        exif.get_ifd(0x8769)[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")
        if offset is not None:
            exif.get_ifd(0x8769)[0x9011] = offset
    if gps is not None:
        block = exif.get_ifd(0x8825)
        block[1], block[2] = "N", _dms(gps[0])
        block[3], block[4] = "E", _dms(gps[1])
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), color).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def jpeg_photo(color: str = "orange") -> ProcessedPhoto:
    """Return a processed photo, as the photo module makes it from an upload."""
    return process(io.BytesIO(jpeg_bytes(color=color)), max_bytes=10**7)


def category(session: Session, code: str | None = None) -> Category:
    """Return a reference category (by code, or the first one)."""
    query = select(Category).order_by(Category.sort_order, Category.id)
    if code:
        query = query.where(Category.code == code)
    return session.scalars(query).first()


def make_user(
    session: Session,
    role: str = "dispatcher",
    department=None,
    two_factor_on: bool | None = None,
    **fields,
) -> User:
    """Create an account of a role; admins and dispatchers come with two-factor sign-in on
    (as they must have it), unless `two_factor_on` says otherwise."""
    n = next(_sequence)
    user = User(
        email=fields.pop("email", f"{role}{n}@example.cn"),
        name=fields.pop("name", f"{role} {n}"),
        role=role,
        department=department,
        **fields,
    )
    session.add(user)
    session.flush()
    if two_factor_on is None:
        two_factor_on = two_factor.is_required(user)
    if two_factor_on:
        session.add(
            AccountTotp(account_id=user.id, secret=pyotp.random_base32(), enabled_at=utcnow())
        )
    session.commit()
    return user


def totp_code(session: Session, user: User, at: datetime | None = None) -> str:
    """Return the code the account's authenticator app shows at a time (now by default)."""
    secret = session.get(AccountTotp, user.id).secret
    return pyotp.TOTP(secret).at(at or utcnow())


def sign_in(client, session: Session, user: User, password: str, next_url: str = ""):
    """Sign in through the form, with the code as second step when the account has one."""
    query = f"?next={next_url}" if next_url else ""
    answer = client.post("/login" + query, data={"email": user.email, "password": password})
    if answer.status_code == 303 and "/login/verify" in answer.headers["Location"]:
        code = totp_code(session, user)
        answer = client.post(answer.headers["Location"], data={"code": code})
    return answer


def make_case(
    session: Session,
    store: PhotoStore | None = None,
    *,
    category_code: str | None = None,
    position: tuple[float, float] = CENTRE,
    description: str = "路面有一个很深的坑，电动车经过很危险。",
    photos: int = 0,
    now: datetime | None = None,
    **report_fields,
) -> tuple[Case, str]:
    """Submit a case as a resident would; return it with its tracking token."""
    processed = [jpeg_photo(c) for c in ["red", "green", "blue", "gray", "white"][:photos]]
    report = cases.Report(
        category=category(session, category_code),
        lat=position[0],
        lng=position[1],
        description=description,
        **report_fields,
    )
    case, token = cases.submit(
        session, report, processed, store or PhotoStore("/nonexistent"), now or utcnow()
    )
    session.commit()
    return case, token


def make_project(
    session: Session, code: str | None = None, phase: str = "approval", **fields
) -> Project:
    """Register a project (a point site at the demo centre), by default one still planned."""
    code = code or f"T-{next(_sequence):04d}"
    project = works.save_project(
        session,
        None,
        Project(),
        {
            "code": code,
            "name": fields.pop("name", f"测试工程 {code}"),
            "geometry": {"type": "Point", "coordinates": [CENTRE[1], CENTRE[0]]},
            "phase": phase,
            **fields,
        },
        utcnow(),
    )
    session.commit()
    return project


def make_consultation(
    session: Session,
    staff: User,
    *,
    opened: datetime | None = None,
    days: int = 14,
    project: Project | None = None,
) -> Consultation:
    """Open a consultation on a planned project, taking comments for a number of days."""
    opened = opened or utcnow()
    consultation = consultations.start(
        session,
        staff,
        project or make_project(session),
        "教场路积水点改造方案征求意见",
        "请就施工时段和临时交通组织提出意见。",
        consultations.local_today(opened) + timedelta(days=days),
        opened,
    )
    session.commit()
    return consultation


def make_notice(
    session: Session,
    author: User,
    *,
    title: str = "湖墅南路雨污分流改造工程进展",
    body: str = "本周完成管道铺设 **120 米**。",
    kind: str = "progress",
    project: Project | None = None,
    case_numbers: tuple[str, ...] = (),
    publish_at: datetime | None = None,
    now: datetime | None = None,
) -> Notice:
    """Write a notice as staff do; publish it at `publish_at` when given (else a draft)."""
    from portal.services import notices

    now = now or utcnow()
    draft = notices.NoticeDraft(
        title=title, body=body, kind=kind, project=project, case_numbers=list(case_numbers)
    )
    notice = notices.save(session, author, Notice(), draft, PhotoStore("/nonexistent"), now)
    if publish_at is not None:
        notices.publish(session, author, notice, now=publish_at)
    session.commit()
    return notice


def facility_type(session: Session, code: str = "0129"):
    """Return a standard facility type (the migrations seed them), by code: 0129 is 路灯."""
    from portal.models import FacilityType

    return session.scalar(select(FacilityType).where(FacilityType.code == code))


def bind_category(
    session: Session, category_code: str, type_code: str = "0129", facility_state: str = ""
) -> Category:
    """Bind a reference category to a facility type, and say what its open cases do to the
    facility's state ('' nothing, 'missing', 'damaged')."""
    bound = category(session, category_code)
    bound.facility_type_id = facility_type(session, type_code).id
    bound.facility_state = facility_state
    session.commit()
    return bound


def make_facility(
    session: Session,
    position: tuple[float, float] = CENTRE,
    type_code: str = "0129",
    *,
    code: str | None = None,
    state: str = "intact",
    line_to: tuple[float, float] | None = None,
    **fields,
):
    """Register a facility: a point at `position`, or a line from there to `line_to`."""
    from portal.models import Facility

    lat, lng = position
    if line_to is None:
        geometry = {"type": "Point", "coordinates": [lng, lat]}
        box = (lat, lng, lat, lng)
        middle = position
    else:
        geometry = {"type": "LineString", "coordinates": [[lng, lat], [line_to[1], line_to[0]]]}
        box = (
            min(lat, line_to[0]),
            min(lng, line_to[1]),
            max(lat, line_to[0]),
            max(lng, line_to[1]),
        )
        middle = ((lat + line_to[0]) / 2, (lng + line_to[1]) / 2)
    facility = Facility(
        code=code or f"330105{type_code}{next(_sequence):06d}",
        type_id=facility_type(session, type_code).id,
        geometry=geometry,
        lat=middle[0],
        lng=middle[1],
        min_lat=box[0],
        min_lng=box[1],
        max_lat=box[2],
        max_lng=box[3],
        state=state,
        **fields,
    )
    session.add(facility)
    session.commit()
    return facility


def make_device(
    session: Session, kind: str = "water_depth", code: str | None = None, **fields
) -> tuple[Device, str]:
    """Register a device of a kind on a new construction site; return it and its key."""
    project = fields.pop("project", None) or make_project(session)
    device, key = devices.register(
        session,
        None,
        devices.DeviceData(
            code=code or f"D{next(_sequence):05d}", kind=kind, project_id=project.id, **fields
        ),
        utcnow(),
    )
    session.commit()
    return device, key
