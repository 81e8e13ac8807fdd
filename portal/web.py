"""Cross-cutting web behaviour: error pages, security headers, template context."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import (
    Flask,
    Response,
    current_app,
    flash,
    has_request_context,
    jsonify,
    render_template,
    request,
)
from flask_babel import force_locale, get_locale, get_timezone
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sa_exc
from sqlalchemy import func as sa_func
from sqlalchemy import literal as sa_literal
from sqlalchemy import select as sa_select
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    InternalServerError,
    SecurityError,
    ServiceUnavailable,
)
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from portal.extensions import db, limiter
from portal.i18n import html_lang
from portal.models import STATES, utcnow
from portal.replica import retry_on_primary
from portal.services.storage import StoreUnavailable


def _label(labels: dict, key: str) -> str:
    """Translate the one label asked for; a missing key shows as itself.

    The labels are lazy strings kept once, so a page listing many cases translates one
    string per cell rather than building every label of the kind each time.
    """
    label = labels.get(key)
    return key if label is None else str(label)


STATE_LABELS = {
    "submitted": _l("Submitted"),
    "accepted": _l("Accepted"),
    "dispatched": _l("Dispatched"),
    "in_progress": _l("In progress"),
    "resolved": _l("Resolved"),
    "closed": _l("Closed"),
    "rejected": _l("Rejected"),
    "duplicate": _l("Merged"),
}


def state_label(state: str) -> str:
    """Return the translated name of a case state."""
    return _label(STATE_LABELS, state)


FACILITY_STATE_LABELS = {
    "intact": _l("Intact"),
    "damaged": _l("Damaged"),
    "missing": _l("Missing"),
    "occupied": _l("Occupied"),
    "abandoned": _l("Abandoned"),
}


def facility_state_label(state: str) -> str:
    """Return the translated name of a facility's state (完好, 破损, 丢失, 占用, 废弃)."""
    return _label(FACILITY_STATE_LABELS, state)


EVENT_LABELS = {
    "submitted": _l("Report received"),
    "accepted": _l("Case accepted"),
    "dispatched": _l("Sent to a department"),
    "in_progress": _l("Work started"),
    "public_reply": _l("Reply from the office"),
    "resolved": _l("Marked as resolved"),
    "closed": _l("Verified and closed"),
    "closed_unverified": _l("Closed by an administrator without the supervisor's check"),
    "rated": _l("Rated by the resident"),
    "rejected": _l("Not accepted"),
    "merged": _l("Merged with another case"),
    "reopened": _l("Reopened for rework"),
    "rework": _l("Sent back for rework"),
    "merged_in": _l("Another case was merged into this one"),
    "info_requested": _l("More information requested; the clock is paused"),
    "info_provided": _l("The resident added information; the clock runs again"),
    "comment": _l("Comment from a resident"),
    "resumed": _l("The clock runs again"),
    "escalated": _l("Deadline missed: escalated"),
    "reminder": _l("Reminder sent"),
    "internal_note": _l("Internal note"),
    "priority": _l("Priority changed"),
    "assigned": _l("Assigned within the department"),
    "sent_back": _l("Sent back to the dispatchers: not this department's case"),
    "extension_requested": _l("More time requested"),
    "extension_approved": _l("Extension approved: the deadline moved"),
    "extension_declined": _l("Extension declined"),
    "category": _l("Category changed"),
    "released": _l("Released from review: the sender was on the block list"),
    "contact_erased": _l("The reporter's contact details were erased at their request"),
    "moderated": _l("Content hidden from the public by a moderator"),
    "moderation_undone": _l("A moderation was undone"),
    "deadlines_recomputed": _l("Deadlines recomputed after a calendar import"),
}


def _named(model: type, code: str | None) -> str:
    """Return the name of a department or category by its code, or the code if it is gone."""
    if not code:
        return "—"
    from sqlalchemy import select

    found = db.session.scalar(select(model).where(model.code == code))
    return found.name if found is not None else code


def event_change(event: object) -> str:
    """Say what a timeline entry changed, before → after: "优先级：一般 → 较急",
    "派遣：道路养护所 → 排水管理所"; empty when it changed no field."""
    from portal.models import Category, Department

    data = getattr(event, "data", None) or {}
    kind = getattr(event, "kind", "")
    if kind in ("priority", "accepted") and data.get("priority"):
        before = data.get("from") or data.get("from_priority")
        if not before or before == data["priority"]:
            return ""
        return _(
            "Priority: %(before)s → %(after)s",
            before=priority_label(before),
            after=priority_label(data["priority"]),
        )
    if kind == "dispatched" and data.get("department"):
        after = _named(Department, data["department"])
        if not data.get("from_department") or data["from_department"] == data["department"]:
            return _("Dispatch: %(after)s", after=after)
        before = _named(Department, data["from_department"])
        return _("Dispatch: %(before)s → %(after)s", before=before, after=after)
    if kind == "category" and data.get("to"):
        before, after = _named(Category, data.get("from")), _named(Category, data["to"])
        return _("Category: %(before)s → %(after)s", before=before, after=after)
    return ""


MODERATION_LABELS = {
    "redact": _l("Text redacted"),
    "hide_photo": _l("Photo hidden"),
    "blur_photo": _l("Region of a photo blurred"),
    "hide_case": _l("Case hidden from the public"),
}


def moderation_label(kind: str) -> str:
    """Return the translated name of a moderation."""
    return _label(MODERATION_LABELS, kind)


def event_label(kind: str) -> str:
    """Return the translated name of a timeline event."""
    return _label(EVENT_LABELS, kind)


RATING_LABELS = {
    "satisfied": _l("Satisfied"),
    "basically_satisfied": _l("Basically satisfied"),
    "dissatisfied": _l("Not satisfied"),
}


def rating_label(rating: str) -> str:
    """Return the translated name of a resident's rating."""
    return _label(RATING_LABELS, rating)


PRIORITY_LABELS = {
    "urgent": _l("Urgent"),
    "high": _l("High"),
    "normal": _l("Normal"),
    "low": _l("Low"),
}


def priority_label(priority: str) -> str:
    """Return the translated name of a priority."""
    return _label(PRIORITY_LABELS, priority)


SOURCE_LABELS = {
    "web": _l("Website"),
    "api": _l("Open311 API"),
    "inspection": _l("Supervisor inspection"),
    "phone": _l("Phone"),
    "letter": _l("Letter"),
    "visit": _l("Visit"),
    "sensor": _l("Sensor alarm"),
}


def source_label(source: str) -> str:
    """Return the translated name of the channel a case came by."""
    return _label(SOURCE_LABELS, source)


FLAG_LABELS = {
    "photo_missing": _l("Photo missing: the category requires one; ask the resident for it"),
    "media_link": _l("Photo sent as a link the portal does not fetch: open it with care"),
    "answer_as_text": _l("An answer did not fit its question and was kept as typed"),
    "answer_missing": _l("A required question was left unanswered"),
    "contact_unchecked": _l("The contact details did not pass the checks: check them first"),
    "personal_data": _l(
        "The text seems to hold a phone or ID number: redact it if it is someone's personal data"
    ),
}


def flag_label(flag: str) -> str:
    """Return the translated meaning of a case's flag for staff."""
    return _label(FLAG_LABELS, flag)


ACTION_LABELS = {
    "accept": _l("Accept"),
    "reject": _l("Reject"),
    "merge": _l("Merge into another case"),
    "route": _l("Route to a department"),
    "start": _l("Start work"),
    "reply": _l("Public reply"),
    "note": _l("Internal note"),
    "ask_info": _l("Ask the resident for more information"),
    "resume": _l("Resume the clocks"),
    "resolve": _l("Mark resolved"),
    "close": _l("Verify and close"),
    "rework": _l("Send back for rework"),
    "set_priority": _l("Change priority"),
    "set_category": _l("Change category"),
    "assign": _l("Assign to a handler"),
    "send_back": _l("Send back to the dispatchers"),
    "request_extension": _l("Ask for more time"),
    "approve_extension": _l("Approve the extension"),
    "decline_extension": _l("Decline the extension"),
}


def action_label(action: str) -> str:
    """Return the translated name of a back-office action."""
    return _label(ACTION_LABELS, action)


VIEW_LABELS = {
    "todo": _l("Needs me now"),
    "submitted": _l("To accept"),
    "to_dispatch": _l("To dispatch"),
    "in_progress": _l("Being worked on"),
    "waiting": _l("Waiting for the resident"),
    "to_verify": _l("To verify"),
    "due_soon": _l("Due soon"),
    "overdue": _l("Past the deadline"),
    "mine": _l("Assigned to me"),
    "reopened": _l("Reopened / rework"),
    "extensions": _l("Extension requests"),
}


def view_label(view: str) -> str:
    """Return the translated name of a saved view of the back-office queue."""
    return _label(VIEW_LABELS, view)


CHECKLIST_LABELS = {
    "fencing": _l("Fencing and signage"),
    "dust": _l("Dust control and covering"),
    "road_permit": _l("Road occupation permit displayed"),
    "night_permit": _l("Night work permit"),
    "pits_covers": _l("Pits, covers and edges safe"),
    "muck": _l("Muck transport covered and clean"),
    "tidy": _l("Site tidy"),
    "other": _l("Other"),
}


def checklist_label(item: str) -> str:
    """Return the translated name of an inspection checklist item."""
    return _label(CHECKLIST_LABELS, item)


def review_reason_labels(codes: list[str]) -> list[str]:
    """Return the translated reasons a report or a check waits for staff review."""
    from portal.services import evidence

    return evidence.reason_labels(codes or [])


PHASE_LABELS = {
    "approval": _l("Approval"),
    "tender": _l("Tender"),
    "construction": _l("Construction"),
    "acceptance": _l("Acceptance"),
    "operation": _l("Operation"),
}


def phase_label(phase: str) -> str:
    """Return the translated name of a project's lifecycle phase."""
    return _label(PHASE_LABELS, phase)


ROLE_LABELS = {
    "supervisor": _l("Citizen supervisor"),
    "handler": _l("Handler"),
    "dispatcher": _l("Dispatcher"),
    "admin": _l("Administrator"),
}


def role_label(role: str) -> str:
    """Return the translated name of a role."""
    return _label(ROLE_LABELS, role)


_JS_STRINGS: dict[str, str] = {}  # by locale: the catalogs do not change while running


def js_strings() -> str:
    """Return the translated strings the page scripts use, as JSON (built once a locale)."""
    locale = str(get_locale())
    strings = _JS_STRINGS.get(locale)
    if strings is None:
        strings = _JS_STRINGS[locale] = _js_strings()
    return strings


def local_minutes(value: datetime) -> str:
    """Return a moment as yyyy-MM-dd HH:mm in the portal's time zone: Babel's
    `datetimeformat('yyyy-MM-dd HH:mm')` without its pattern parsing, for pages that show
    many (every row of the queue)."""
    if value.tzinfo is None:  # stored in UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(get_timezone()).strftime("%Y-%m-%d %H:%M")


def _js_strings() -> str:
    from portal.services import facilities

    strings = {f"state_{s}": state_label(s) for s in STATES}
    strings.update(
        map_load_failed=_("The map data could not be loaded."),
        chars_left=_("%(n)s characters left"),
        locating=_("Finding your location…"),
        location_found=_("Location found and marked on the map."),
        location_failed=_("Your location could not be found. Click the map or type an address."),
        location_from_photo=_("The place was taken from your photo's GPS."),
        too_many_photos=_("Too many photos selected."),
        meters_away=_("%(n)s m away"),
        me_too=_("Me too"),
        facility_none=_("None of these, or not sure"),
        facility_snapped=_("The pin is now on %(code)s."),
        facilities_none_near=_("None of this kind within %(n)s m of the pin."),
        facilities_layer=_("Facilities (street lights, covers …)"),
        facilities_zoom_in=_("Zoom in to see the facilities."),
        **{
            f"facility_state_{state}": facilities.state_label(state)
            for state in facilities.STATE_LABELS
        },
        countdown_left=_("%(t)s left"),
        countdown_late=_("%(t)s late"),
        unit_day=_("%(n)s d"),
        unit_hour=_("%(n)s h"),
        unit_minute=_("%(n)s min"),
        draft_saved=_("Draft saved on the server."),
        draft_local=_("No connection: the draft is kept on this phone and sent later."),
        position_measured=_("Position from your phone, accurate to about %(n)s m."),
        position_typed=_("Typed position: staff will check it before it counts."),
        position_failed=_(
            "Your phone's position could not be found: type the coordinates instead "
            "(staff will check them)."
        ),
        map_zoom_in=_("Zoom in"),
        map_zoom_out=_("Zoom out"),
        map_library=_("Leaflet, a JavaScript library for interactive maps"),
    )
    return json.dumps(strings, ensure_ascii=False)


# Longer query strings never come from the portal's own pages; gunicorn's request line
# (4094 bytes) refuses them in production anyway, so tests and servers answer alike.
MAX_QUERY_STRING = 4096


class RefusedInput(BadRequest):
    """A request refused before any view reads it, with the reason the visitor is shown."""

    def __init__(self, message: object) -> None:
        super().__init__()
        self.message = message


def refuse_hostile_input() -> None:
    """Refuse NUL characters anywhere (PostgreSQL text cannot hold them, and no person types
    them) and over-long query strings, before any view or query sees them."""
    if len(request.query_string) > MAX_QUERY_STRING:
        raise RefusedInput(_l("The address is too long."))
    try:
        request.query_string.decode()
    except UnicodeDecodeError:
        # Bytes that are not UTF-8, sent unescaped: Werkzeug reads the query strictly, so
        # every later look at it (the arguments, the page's own address) would fail.
        request.query_string = b""
        raise RefusedInput(_l("The request contains characters that are not allowed.")) from None
    texts = [request.path]
    texts += [text for pair in request.args.items(multi=True) for text in pair]
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        texts += [text for pair in request.form.items(multi=True) for text in pair]
        texts += [f.filename or "" for f in request.files.values()]
    # A multipart part whose name holds a line break comes with no name (None).
    if any(text and "\x00" in text for text in texts):
        raise RefusedInput(_l("The request contains characters that are not allowed."))


def unknown_host_notices() -> list[dict[str, str]]:
    """Return, in Chinese and in English, why a request for an unknown host is refused."""
    notices = []
    for locale, lang in (("zh_Hans_CN", "zh-Hans-CN"), ("en", "en")):
        with force_locale(locale):
            notices.append(
                {
                    "lang": lang,
                    "title": _("Unknown address"),
                    "message": _(
                        "This server answers only at the portal's own address. Please open "
                        "the portal at %(url)s.",
                        url=current_app.config["PUBLIC_URL"],
                    ),
                }
            )
    return notices


def unknown_host_answer() -> tuple[Response | str, int]:
    """Answer 400 in both languages to a request naming a host not in TRUSTED_HOSTS."""
    notices = unknown_host_notices()
    if wants_json():  # an API client: its own error format, both languages in one message
        message = " / ".join(f"{n['title']}: {n['message']}" for n in notices)
        if request.path.startswith("/open311/"):
            from portal.open311.errors import http_error

            return http_error(RefusedInput(message)), 400
        return jsonify(error={"code": 400, "message": message}), 400
    # No url_for here: without a trusted host Flask has no URL adapter for this request.
    stylesheet = f"{request.script_root}/static/css/site.css"
    page = render_template("errors/notice.html", code=400, notices=notices, stylesheet=stylesheet)
    return page, 400


def refuse_unknown_host() -> tuple[Response | str, int] | None:
    """Refuse a request for an unknown host (Flask leaves it unrouted) before any other step
    runs or any link is built."""
    if isinstance(request.routing_exception, SecurityError):
        return unknown_host_answer()
    return None


# Far beyond the last page of any list, and within what SQLite and PostgreSQL can offset.
MAX_PAGE = 10_000_000


def page_number() -> int:
    """Return the list page the query string asks for: 1 unless a whole number, at most
    MAX_PAGE (a huge number is an empty page past the end, not a database overflow)."""
    try:
        page = int(request.args.get("page", 1))
    except (TypeError, ValueError):
        return 1
    return min(max(page, 1), MAX_PAGE)


def warn_unsearchable(q: str) -> None:
    """Say why a search finds nothing when the index cannot answer it (never scan instead)."""
    from portal.services import search_index

    if q and not search_index.parse(q).usable:
        flash(
            _(
                "Type at least two letters or digits next to each other to search: "
                "a single character or punctuation alone cannot be searched."
            ),
            "error",
        )


def public_url_for(endpoint: str, **values: object) -> str:
    """Return the absolute address of an endpoint on the site's own address, PUBLIC_URL.

    Never on the Host the client sent (a forged one would put another site's name in feeds,
    mails and Open311 answers), and usable outside a request (mails sent by a command).
    """
    if endpoint.startswith(".") and has_request_context():
        endpoint = f"{request.blueprint}{endpoint}"
    site = urlsplit(current_app.config["PUBLIC_URL"])
    adapter = current_app.url_map.bind(
        site.netloc, script_name=site.path or "/", url_scheme=site.scheme or "https"
    )
    current_app.inject_url_defaults(endpoint, values)
    return adapter.build(endpoint, values, force_external=True)


# The largest id of an INTEGER column on PostgreSQL (SQLite's go further).
MAX_ROW_ID = 2**31 - 1


def row_id(text: str) -> int:
    """Read a row id from a query argument; past what an id column holds it is no id
    (ValueError, so `request.args.get(..., type=row_id)` gives None), not a driver overflow."""
    number = int(text)
    if not 0 < number <= MAX_ROW_ID:
        raise ValueError(text)
    return number


class RowIdConverter(IntegerConverter):
    """An <int:…> in a path, at most what an id column holds: a longer number is a 404, not
    an overflow in the database driver."""

    def __init__(self, url_map, fixed_digits: int = 0, min: int | None = None, **options) -> None:
        options.setdefault("max", MAX_ROW_ID)
        super().__init__(url_map, fixed_digits, min, **options)


def wants_json() -> bool:
    """Tell whether the client would rather have JSON than a page."""
    if request.path.startswith(("/api/", "/open311/")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def retry_after_minutes() -> int:
    """Return in how many minutes the limit that refused this request lets it through again."""
    try:
        current = limiter.current_limit
        seconds = current.reset_at - time.time() if current else 60
    except Exception:  # the limiter's storage may be down: say "about a minute"
        seconds = 60
    return max(1, math.ceil(seconds / 60))


def handle_http_error(error: HTTPException) -> tuple[Response | str, int]:
    """Answer an HTTP error in JSON or as a page."""
    if isinstance(request.routing_exception, SecurityError):
        # Whatever failed, this request named an unknown host: its page builds no link.
        return unknown_host_answer()
    if request.path.startswith("/open311/"):
        from portal.open311.errors import http_error

        return http_error(error), error.code or 500
    code = error.code or 500
    messages = {
        400: _("The request could not be understood."),
        401: _("Please sign in to see this page."),
        403: _("You are not allowed to see this page."),
        404: _("This page does not exist."),
        405: _("This action is not allowed here."),
        413: _("The upload is too large."),
        503: _("The service is temporarily unavailable. Please try again in a minute."),
    }
    if code == 429 and isinstance(getattr(error, "response", None), Response):
        return error.response, 429  # a form that answers its own limit with everything kept
    if code == 429:
        messages[429] = _(
            "Too many requests. Nothing was saved. Please try again in %(n)d minutes.",
            n=retry_after_minutes(),
        )
    message = messages.get(code, _("Something went wrong on our side. Please try again later."))
    if isinstance(error, RefusedInput):
        message = str(error.message)
    if isinstance(error, CSRFError):
        message = _("The form had expired or was sent from elsewhere. Please try again.")
    if wants_json():
        return jsonify(error={"code": code, "message": message}), code
    return render_template("errors/error.html", code=code, message=message), code


def handle_server_error(error: Exception) -> tuple[Response | str, int]:
    """Roll back the session and answer 500."""
    db.session.rollback()
    current_app.logger.exception("unhandled error", exc_info=error)
    return handle_http_error(InternalServerError())


# The database is down, restarting or out of connections: the request may be retried.
DATABASE_DOWN = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
)
RETRY_AFTER_SECONDS = 30


def discard_session(error: BaseException | None = None) -> None:
    """End the request's session even when its connection died with the database: a
    rollback on it fails, so the connection is dropped from the pool instead."""
    try:
        db.session.remove()
    except sa_exc.SQLAlchemyError as failure:
        current_app.logger.warning("session closed on a dead connection: %s", failure)
        with contextlib.suppress(sa_exc.SQLAlchemyError):
            db.session().invalidate()
        db.session.remove()


def handle_database_down(error: Exception) -> tuple[Response | str, int, dict[str, str]]:
    """Answer 503 with Retry-After, on a page that needs no database, in both languages.
    A read replica that failed mid-request is skipped and the request served again from
    the primary instead."""
    again = retry_on_primary()
    if again is not None:
        return again, again.status_code, {}
    discard_session()
    current_app.logger.warning("database unavailable: %s", error)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if wants_json():
        body, code = handle_http_error(ServiceUnavailable())
        return body, code, headers
    notices = []
    for locale, lang in (("zh_Hans_CN", "zh-Hans-CN"), ("en", "en")):
        with force_locale(locale):
            notices.append(
                {
                    "lang": lang,
                    "title": _("Service temporarily unavailable"),
                    "message": _(
                        "The portal cannot reach its database right now. Please try again "
                        "in a minute: what you sent was saved only if you saw a confirmation."
                    ),
                }
            )
    return render_template("errors/unavailable.html", notices=notices), 503, headers


def handle_store_down(error: Exception) -> tuple[Response | str, int, dict[str, str]]:
    """Answer 503 with Retry-After when the object store cannot be reached; the transaction
    is rolled back, so nothing is half-saved."""
    db.session.rollback()
    current_app.logger.warning("object store unavailable: %s", error)
    body, code = handle_http_error(ServiceUnavailable())
    return body, code, {"Retry-After": str(RETRY_AFTER_SECONDS)}


@functools.lru_cache(maxsize=8)
def content_security_policy(tile_url: str) -> str:
    """Return the Content-Security-Policy of pages whose map tiles come from `tile_url`."""
    parts = urlsplit(tile_url)
    tiles = ""
    if parts.scheme and parts.hostname:
        host = parts.hostname
        if "{s}" in host:
            host = "*." + host.split("{s}.", 1)[-1]
        tiles = f"{parts.scheme}://{host}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' data: blob: {tiles}; connect-src 'self'; font-src 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )


def security_header_items(tile_url: str, secure: bool) -> list[tuple[str, str]]:
    """Return the security headers every answer carries (HSTS only over HTTPS)."""
    items = [
        ("Content-Security-Policy", content_security_policy(tile_url)),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "same-origin"),
    ]
    if secure:
        items.append(("Strict-Transport-Security", "max-age=31536000"))
    return items


def security_headers(response: Response) -> Response:
    """Add the security headers every answer carries."""
    for name, value in security_header_items(current_app.config["MAP_TILE_URL"], request.is_secure):
        response.headers.setdefault(name, value)
    return response


def retry_only_after_refusal(response: Response) -> Response:
    """Drop the Retry-After Flask-Limiter puts on every answer of a limited route: it says
    when to come back, which only a refusal (429) or an outage (503) should say."""
    if response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    return response


def template_context() -> dict:
    """Expose helpers every template uses."""
    return {
        "state_label": state_label,
        "facility_state_label": facility_state_label,
        "event_label": event_label,
        "moderation_label": moderation_label,
        "event_change": event_change,
        "rating_label": rating_label,
        "priority_label": priority_label,
        "source_label": source_label,
        "flag_label": flag_label,
        "action_label": action_label,
        "view_label": view_label,
        "role_label": role_label,
        "checklist_label": checklist_label,
        "phase_label": phase_label,
        "review_reason_labels": review_reason_labels,
        "now": utcnow,
        "js_strings": js_strings,
        "html_lang": html_lang,
        "public_url_for": public_url_for,
        "map_settings": {
            "tile_url": current_app.config["MAP_TILE_URL"],
            "tile_attribution": current_app.config["MAP_TILE_ATTRIBUTION"],
            "center": current_app.config["MAP_CENTER"],
            "zoom": current_app.config["MAP_ZOOM"],
        },
    }


def init_app(app: Flask) -> None:
    """Register error handlers, headers and template context."""
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    # First of every step: the limiter and the others would run on a request for a host
    # the portal does not answer for.
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_unknown_host)
    app.before_request(refuse_hostile_input)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_server_error)
    for error in DATABASE_DOWN:
        app.register_error_handler(error, handle_database_down)
    app.register_error_handler(StoreUnavailable, handle_store_down)
    app.after_request(security_headers)
    # After-request steps run last registered first: put this one first so it runs after
    # Flask-Limiter's, which adds the header.
    app.after_request_funcs.setdefault(None, []).insert(0, retry_only_after_refusal)
    # Runs before Flask-SQLAlchemy's own clean-up, which would fail on a dead connection.
    app.teardown_appcontext(discard_session)
    app.context_processor(template_context)
    app.jinja_env.filters["local_minutes"] = local_minutes


# A list counts its matches up to this many and then says "1,000+": counting every one of
# hundreds of thousands of cases costs more than the page itself.
COUNT_CAP = 1000


class CappedPage:
    """A page of a list whose total is counted only up to a cap (past the page asked for).

    Offers what the list templates use of Flask-SQLAlchemy's pagination: items, page,
    total, pages, has_prev/has_next, prev_num/next_num; `capped` says the total is a floor.
    """

    def __init__(self, query, page: int, per_page: int, cap: int | None = None) -> None:
        self.page, self.per_page = page, per_page
        self.items = list(
            db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).unique()
        )
        if len(self.items) < per_page and (self.items or page == 1):
            # The last page: what came before it and its rows are the total, uncounted.
            self.capped, self.total = False, (page - 1) * per_page + len(self.items)
            return
        limit = max(cap or COUNT_CAP, page * per_page) + 1
        ones = query.with_only_columns(sa_literal(1), maintain_column_froms=True)
        counted = ones.order_by(None).limit(limit).subquery()  # reads the index, not rows
        found = db.session.scalar(sa_select(sa_func.count()).select_from(counted)) or 0
        self.capped = found >= limit
        self.total = limit - 1 if self.capped else found

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page)) + (1 if self.capped else 0)

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.capped or self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1
