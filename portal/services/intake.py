"""The rules every new report obeys, whichever door it comes in by (web form, back office,
Open311): its text, its category, its photos and the answers to the category's questions."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import BinaryIO

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Category, CategoryAttribute
from portal.services import photos

MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z!?]")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
PHONE = r"^\+?[0-9][0-9 \-]{4,19}$"
# A browser sends a file's bare name: a path or a control character means a forged request.
FILE_NAME_PROBLEM = re.compile(r"[\x00-\x1f\x7f/\\]|^\.\.?$")
# What a client may declare for a photo: an image type, or nothing more precise than bytes.
UPLOAD_TYPES = re.compile(r"^(image/[a-z0-9.+-]+|application/octet-stream)?$")
DESCRIPTION_MIN = 5
DESCRIPTION_MAX = 2000
ANSWER_MAX = {"string": 255, "text": 2000}
OFFER_SALT = "nearby-offer"
# How long a resident's "not one of these" holds for the cases they were shown.
OFFER_MAX_AGE = 86400
# What looks like someone's phone number: a mainland mobile (11 digits from 13 to 19, maybe
# after +86 and split by spaces or dashes) or a landline with its area code (010-12345678).
PHONE_IN_TEXT = re.compile(
    r"(?<![0-9])(?:(?:\+|00)?86[ -]?)?"
    r"(?:1[3-9][0-9](?:[ -]?[0-9]{4}){2}|0[1-9][0-9]{1,2}-[0-9]{7,8})(?![0-9])"
)
# A resident identity number (GB 11643): 17 digits and a check character.
ID_IN_TEXT = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def text_problem(text: str | None) -> object | None:
    """Return why a free text is refused (markup, control characters), or None."""
    if text and MARKUP.search(text):
        return _l("Please write plain text without HTML tags (< >).")
    if text and CONTROL.search(text):
        return _l("The text contains characters that are not allowed.")
    return None


def plain_text(text: str | None, limit: int | None = None) -> str:
    """Return a text another system sent, kept as plain text: control characters (but line
    breaks and tabs) removed, trimmed, and cut to `limit` characters if one is given. Markup
    is kept as typed: every page, export and mail escapes it."""
    kept = CONTROL.sub("", (text or "").replace("\x00", "")).strip()
    return kept[:limit] if limit is not None else kept


def description_problem(text: str | None) -> object | None:
    """Return why a report's description is refused, or None."""
    text = (text or "").strip()
    if not text:
        return _l("Describe the problem.")
    if not DESCRIPTION_MIN <= len(text) <= DESCRIPTION_MAX:
        return _l(
            "Write between %(min)d and %(max)d characters.",
            min=DESCRIPTION_MIN,
            max=DESCRIPTION_MAX,
        )
    return text_problem(text)


def is_identity_number(text: str) -> bool:
    """Tell whether 18 characters are a resident identity number whose check character is
    right (GB 11643, ISO 7064 MOD 11-2)."""
    if len(text) != 18 or not text[:17].isdigit():
        return False
    total = sum(int(digit) * weight for digit, weight in zip(text[:17], ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11] == text[17].upper()


def personal_data(text: str | None) -> list[str]:
    """Return the pieces of a text that look like a phone number or an identity number, in
    the order they appear: what a moderator may want to redact."""
    text = text or ""
    found = [(m.start(), m.group()) for m in ID_IN_TEXT.finditer(text)]
    found = [(start, piece) for start, piece in found if is_identity_number(piece)]
    taken = [range(start, start + len(piece)) for start, piece in found]
    for match in PHONE_IN_TEXT.finditer(text):
        if not any(match.start() in span for span in taken):
            found.append((match.start(), match.group()))
    return list(dict.fromkeys(piece for _start, piece in sorted(found)))


def active_category(session: Session, code: str) -> Category | None:
    """Return the category a report may be filed under, by code; None if unknown or retired."""
    if not code:
        return None
    return session.scalar(select(Category).where(Category.code == code, Category.active))


def shown_file_name(filename: str) -> str:
    """Return an uploaded file's name fit to show back: no path, no control characters."""
    bare = CONTROL.sub("", filename.replace("\x00", "")).replace("\\", "/").rsplit("/", 1)[-1]
    return bare.strip()[:80] or "?"


def upload_problem(filename: str, content_type: str = "") -> object | None:
    """Return why an upload is refused before its bytes are read (name, declared type)."""
    if FILE_NAME_PROBLEM.search(filename or ""):
        return _l("The file name is not acceptable (a path or control characters). Rename it.")
    if not UPLOAD_TYPES.match((content_type or "").split(";")[0].strip().lower()):
        return _l("The file was not sent as an image.")
    return None


def process_uploads(
    uploads: Iterable[tuple[str, BinaryIO] | tuple[str, BinaryIO, str]],
    limit: int | None = None,
) -> tuple[list[photos.ProcessedPhoto], list[str]]:
    """Process uploaded photos (name, stream and optionally the declared content type) within
    the configured limits, or `limit` more when some are already kept; return them and the
    refusals, each naming its file."""
    uploads = list(uploads)
    most = current_app.config["MAX_PHOTOS"]
    if len(uploads) > (most if limit is None else limit):
        return [], [str(_l("Attach at most %(n)d photos.", n=most))]
    max_bytes = current_app.config["MAX_PHOTO_MB"] * 1024 * 1024
    processed, refused = [], []
    for filename, stream, *declared in uploads:
        problem = upload_problem(filename, declared[0] if declared else "")
        try:
            if problem is not None:
                raise photos.PhotoRejected(problem)
            processed.append(photos.process(stream, max_bytes=max_bytes))
        except photos.PhotoRejected as rejected:
            refused.append(f"{shown_file_name(filename)}: {rejected.message}")
    return processed, refused


def photo_problem(category: Category, processed: Sequence[object]) -> object | None:
    """Return why a report lacks a photo its category requires, or None."""
    if category.photo_required and not processed:
        return _l("This category needs at least one photo.")
    return None


def _answer(question: CategoryAttribute, given: list[str], markup_ok: bool = False) -> object:
    """Return one question's answer in stored form; raise ValueError with a message.
    `markup_ok` lets text that looks like markup through (it is escaped wherever shown)."""
    keys = [key for key, _name in question.value_names()]
    if question.datatype == "multivaluelist":
        if any(v not in keys for v in given):
            raise ValueError(_l("Choose among the listed values."))
        return list(dict.fromkeys(given))
    if len(given) > 1:
        raise ValueError(_l("Give one value only."))
    value = given[0]
    if question.datatype == "singlevaluelist":
        if value not in keys:
            raise ValueError(_l("Choose among the listed values."))
        return value
    if question.datatype == "number":
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ValueError(_l("Enter a number."))
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if question.datatype == "datetime":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(_l("Enter a date and time such as 2026-11-25T08:30+08:00.")) from None
        return moment.isoformat()
    limit = ANSWER_MAX[question.datatype]
    if len(value) > limit:
        raise ValueError(_l("At most %(max)d characters.", max=limit))
    problem = None if markup_ok else text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def check_answers(
    category: Category, given: Mapping[str, list[str]]
) -> tuple[dict[str, object], dict[str, object]]:
    """Check the answers to a category's questions; return the stored answers and, by
    question code, why each refused answer is wrong. Answers to unknown questions are
    ignored."""
    answers: dict[str, object] = {}
    problems: dict[str, object] = {}
    for question in category.attributes:
        values = [v.strip() for v in given.get(question.code, []) if v and v.strip()]
        if not values:
            if question.required:
                problems[question.code] = _l("This question must be answered.")
            continue
        try:
            answers[question.code] = _answer(question, values)
        except ValueError as error:
            problems[question.code] = error.args[0]
    return answers, problems


def lenient_answers(
    category: Category, given: Mapping[str, list[str]]
) -> tuple[dict[str, object], set[str], set[str]]:
    """Read another system's answers without refusing any: return the stored answers, the
    codes of those kept as plain text because they failed their check, and the codes of
    required questions left unanswered."""
    answers: dict[str, object] = {}
    kept: set[str] = set()
    missing: set[str] = set()
    for question in category.attributes:
        values = [plain_text(v) for v in given.get(question.code, [])]
        values = [v for v in values if v]
        if not values:
            if question.required:
                missing.add(question.code)
            continue
        try:
            answers[question.code] = _answer(question, values, markup_ok=True)
        except ValueError:
            kept.add(question.code)
            joined = ", ".join(values)
            answers[question.code] = values if question.datatype == "multivaluelist" else joined
    return answers, kept, missing


def answers_kept_as_text(category: Category, answers: Mapping[str, object]) -> set[str]:
    """Return the codes of stored answers that do not pass their question's check now."""
    kept = set()
    for question in category.attributes:
        value = answers.get(question.code)
        if value is None:
            continue
        values = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        try:
            _answer(question, values, markup_ok=True)
        except ValueError:
            kept.add(question.code)
    return kept


def _offer_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=OFFER_SALT)


def sign_offer(case_ids: Iterable[int]) -> str:
    """Return the signed record of the nearby cases a resident was shown and may go past."""
    return str(_offer_serializer().dumps(sorted(set(case_ids))))


def declined_offer(signed: str | None) -> set[int]:
    """Return the ids of the nearby cases a signed record says the resident was shown; none
    for a forged, stale or missing record."""
    if not signed:
        return set()
    try:
        ids = _offer_serializer().loads(signed, max_age=OFFER_MAX_AGE)
    except BadSignature:
        return set()
    if not isinstance(ids, list):
        return set()
    return {i for i in ids if isinstance(i, int)}
