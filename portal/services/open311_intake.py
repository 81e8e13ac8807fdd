"""Open311 GeoReport v2, write side: a request posted by another system becomes a case,
checked by the same rules as the web form (services/intake) and opened by cases.submit."""

from __future__ import annotations

import io
import math
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from portal.models import ApiKey, Case, Category, Facility
from portal.services import (
    apikeys,
    blocklist,
    cases,
    facilities,
    geo,
    intake,
    open311,
    service_area,
)
from portal.services.open311 import BadArguments
from portal.services.photos import PhotoStore

ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]{1,40})\](\[\])?$")
# The widths of the columns a posted text is stored in.
ADDRESS_MAX, NAME_MAX, PHONE_MAX, EMAIL_MAX, DEVICE_MAX = 255, 100, 40, 255, 100
LINK_MAX = 2000


class Forbidden(PermissionError):
    """Raised when the api_key is missing, wrong or revoked (answered as 403)."""


@dataclass
class Posted:
    """What a client posted: the form's text fields and its uploaded files."""

    form: Mapping[str, list[str]]
    files: list[tuple[str, BinaryIO] | tuple[str, BinaryIO, str]] = field(default_factory=list)

    def get(self, name: str) -> str:
        """Return one argument, trimmed; an absent or empty one is ''."""
        values = self.form.get(name) or [""]
        return (values[0] or "").strip()


def authenticate(session: Session, key: str, now: datetime) -> ApiKey:
    """Return the live API key a client sent, counting its use."""
    row = apikeys.verify(session, key)
    if row is None:
        raise Forbidden()
    row.last_used_at = now
    row.request_count += 1
    return row


def answers_given(posted: Posted) -> dict[str, list[str]]:
    """Collect attribute[CODE]=v and attribute[CODE][]=v arguments by question code."""
    given: dict[str, list[str]] = {}
    for name, values in posted.form.items():
        match = ATTRIBUTE.match(name)
        if match:
            given.setdefault(match.group(1), []).extend(values)
    return given


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a redirect could leave the allowed hosts
        return None


def is_allowed_media_host(url: str) -> bool:
    """Tell whether a photo address is on one of the hosts the office fetches from."""
    parts = urlsplit(url)
    allowed = {h.strip().lower() for h in current_app.config["OPEN311_MEDIA_HOSTS"].split(",")}
    allowed.discard("")
    host = (parts.hostname or "").lower()
    netloc = parts.netloc.lower().rsplit("@", 1)[-1]
    return parts.scheme in ("http", "https") and (host in allowed or netloc in allowed)


def fetch_media(url: str) -> BinaryIO:
    """Download a photo from one of the configured allowed hosts; raise ValueError if not."""
    if not is_allowed_media_host(url):
        raise ValueError(_l("Photos are fetched only from the hosts the office allows."))
    max_bytes = current_app.config["MAX_PHOTO_MB"] * 1024 * 1024
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=current_app.config["OPEN311_MEDIA_TIMEOUT"]) as response:
            data = response.read(max_bytes + 1)
    except (urllib.error.URLError, OSError, ValueError) as error:
        current_app.logger.warning("media_url not fetched: %s", error)
        raise ValueError(_l("The photo could not be downloaded.")) from error
    if len(data) > max_bytes:
        raise ValueError(
            _l("The photo is larger than %(mb)s MB.", mb=current_app.config["MAX_PHOTO_MB"])
        )
    return io.BytesIO(data)


class UnknownService(LookupError):
    """Raised when a request names a service that is not offered (answered as 404)."""


def _position(session: Session, posted: Posted, problems: list[str]) -> tuple[float, float] | None:
    position = _given_position(session, posted, problems)
    outside = None if position is None else service_area.refusal(session, *position)
    if outside is not None:
        problems.append("lat/long: " + outside)
        return None
    return position


def _given_position(
    session: Session, posted: Posted, problems: list[str]
) -> tuple[float, float] | None:
    lat_text, lng_text = posted.get("lat"), posted.get("long")
    address = intake.plain_text(posted.get("address_string"), ADDRESS_MAX)
    if lat_text or lng_text:
        try:
            lat, lng = float(lat_text), float(lng_text)
        except ValueError:
            lat = lng = math.nan
        if not geo.is_valid_position(lat, lng):
            problems.append(
                "lat/long: "
                + str(_l("Give both, a latitude from -90 to 90 and a longitude from -180 to 180."))
            )
            return None
        return lat, lng
    if address:
        position = geo.locate_address(session, address)
        if position is None:
            problems.append("address_string: " + str(_l("This address could not be found.")))
        return position
    if posted.get("address_id"):
        problems.append("address_id: " + str(_l("Not supported here: send lat and long.")))
        return None
    problems.append("lat/long: " + str(_l("Give lat and long, or address_string.")))
    return None


HAN = re.compile(r"^[\u3400-\u9fff\uf900-\ufaff·]+$")


def full_name(first: str | None, last: str | None) -> str:
    """Join Open311's first and last name as the resident writes it: a Chinese name is
    family name first and without a space (王伟, not 伟 王); any other name as sent."""
    first, last = (first or "").strip(), (last or "").strip()
    if first and last and HAN.match(first) and HAN.match(last):
        return last + first
    return " ".join(part for part in (first, last) if part)


def _contact(posted: Posted, flags: list[str]) -> dict[str, str]:
    """Read the resident's contact as sent; what fails its check is left out or kept as
    typed, and flagged for staff, never refused (the sender cannot ask the resident)."""
    name = intake.plain_text(full_name(posted.get("first_name"), posted.get("last_name")))
    phone, email = intake.plain_text(posted.get("phone")), posted.get("email")
    unchecked = len(name) > NAME_MAX or bool(phone and not re.match(intake.PHONE, phone))
    if email:
        try:
            email = validate_email(email, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            email, unchecked = "", True  # never mail an address that cannot be one
    if unchecked:
        flags.append("contact_unchecked")
    return {"name": name[:NAME_MAX], "phone": phone[:PHONE_MAX], "email": email[:EMAIL_MAX]}


def _media(posted: Posted, flags: list[str], problems: list[str]) -> tuple[list, list[str]]:
    """Fetch media_url photos from the allowed hosts; keep the others as links for staff."""
    uploads: list = []
    links: list[str] = []
    for url in (intake.plain_text(u) for u in posted.form.get("media_url", [])):
        if not url:
            continue
        if not is_allowed_media_host(url):
            links.append(url[:LINK_MAX])
            continue
        try:
            uploads.append(("media_url", fetch_media(url)))
        except ValueError as error:
            problems.append(f"media_url: {error.args[0]}")
    if links:
        flags.append("media_link")
    return uploads, links


def _facility(
    session: Session,
    category: Category,
    given: Mapping[str, list[str]],
    position: tuple[float, float] | None,
    problems: list[str],
) -> Facility | None:
    """Return the facility a request names (attribute[facility_code]), checked against the
    service's facility type and the place; a wrong one is refused (the sender can fix it).
    Ignored for a service that names no facility."""
    codes = [v.strip() for v in given.get(open311.FACILITY_CODE, []) if v and v.strip()]
    if not codes or category.facility_type_id is None or position is None:
        return None
    name = f"attribute[{open311.FACILITY_CODE}]: "
    if len(codes) > 1:
        problems.append(name + str(_l("Give one value only.")))
        return None
    try:
        return facilities.check_pick(session, category, codes[0], *position)
    except facilities.FacilityError as error:
        problems.append(name + facilities.problem_text(error))
        return None


def post(
    session: Session,
    key: ApiKey,
    posted: Posted,
    store: PhotoStore,
    now: datetime,
    locale: str,
    address: str = "",
) -> Case:
    """Open a case from an Open311 POST (held for review if the caller's address or the
    resident's e-mail or phone is blocked). Refuse only what the sender can fix: raise
    UnknownService for a service not offered and BadArguments for a missing service code, a
    missing or unknown place, or a broken upload. Everything else is kept and flagged."""
    problems: list[str] = []
    flags: list[str] = []
    code = posted.get("service_code")
    category = intake.active_category(session, code)
    if code and category is None:
        raise UnknownService(code)
    if category is None:
        problems.append("service_code: " + str(_l("Required.")))
    position = _position(session, posted, problems)
    answers: dict[str, object] = {}
    facility = None
    if category is not None:
        given = answers_given(posted)
        answers, kept, missing = intake.lenient_answers(category, given)
        flags += ["answer_as_text"] * bool(kept) + ["answer_missing"] * bool(missing)
        facility = _facility(session, category, given, position, problems)
    contact = _contact(posted, flags)
    fetched, links = _media(posted, flags, problems)
    processed, refused = intake.process_uploads([*posted.files, *fetched])
    account_id = posted.get("account_id")
    if len(account_id) > 255 or intake.text_problem(account_id):
        problems.append("account_id: " + str(_l("At most 255 characters, plain text.")))
    problems.extend(f"media: {r}" for r in refused)
    if problems or category is None or position is None:
        raise BadArguments(problems)
    if intake.photo_problem(category, processed) is not None and not links:
        flags.append("photo_missing")
    if facility is not None:
        position = (facility.lat, facility.lng)  # the pin snaps to the facility named
    report = cases.Report(
        category=category,
        facility=facility,
        lat=position[0],
        lng=position[1],
        description=intake.plain_text(posted.get("description")),
        address=intake.plain_text(posted.get("address_string"), ADDRESS_MAX),
        hide_name=True,
        source="api",
        locale=locale,
        attributes=answers,
        api_key=key,
        account_id=account_id,
        held_by=blocklist.match(
            session, now, ip=address, email=contact["email"], phone=contact["phone"]
        ),
        flags=flags,
        media_links=links,
        device_id=intake.plain_text(posted.get("device_id") or posted.get("deviceid"), DEVICE_MAX),
        **contact,
    )
    case, _token = cases.submit(session, report, processed, store, now)
    return case
