"""Public progress notices: the list, a notice, its cover photo, and Atom feeds."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from feedgen.feed import FeedGenerator
from flask import Response, abort, current_app, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from portal import date_filters
from portal.extensions import db
from portal.i18n import html_lang
from portal.models import NOTICE_KINDS, Notice, Project, Zone, utcnow
from portal.models.base import shifted
from portal.public import bp
from portal.public.forms import NoticeFilterForm
from portal.services import markup, notices
from portal.services.photos import store_for_app
from portal.web import page_number, public_url_for

PAGE_SIZE = 20
FEED_SIZE = 50


def notice_kind_label(kind: str) -> str:
    """Return the translated name of a kind of notice."""
    labels = {
        "progress": _("Progress"),
        "completion": _("Completion"),
        "traffic": _("Traffic impact"),
        "consultation_result": _("Consultation result"),
    }
    return labels.get(kind, kind)


def notice_status_label(status: str) -> str:
    """Return the translated name of a notice's status."""
    labels = {
        "draft": _("Draft"),
        "scheduled": _("Scheduled"),
        "published": _("Published"),
        "withdrawn": _("Withdrawn"),
    }
    return labels.get(status, status)


@bp.app_context_processor
def notice_helpers() -> dict:
    """Expose the notice labels and the Markdown renderer to every template."""
    return {
        "notice_kind_label": notice_kind_label,
        "notice_status_label": notice_status_label,
        "render_markdown": markup.render,
        "render_plain": markup.plain,
    }


def public_notice_or_404(notice_id: int) -> Notice:
    """Return a notice the public may see (published or withdrawn), or answer 404."""
    notice = db.session.get(Notice, notice_id)
    if notice is None or not notice.is_public(utcnow()):
        abort(404)
    return notice


@bp.route("/notices")
def notice_list() -> str:
    """List the public notices with filters, search and pages."""
    form = NoticeFilterForm(request.args)
    projects = db.session.scalars(select(Project).order_by(Project.code)).all()
    zones = db.session.scalars(select(Zone).where(Zone.level != "grid").order_by(Zone.code)).all()
    form.validate()
    days = date_filters.day_range(form.since.data, form.until.data)
    for name, message in days.errors.items():
        form[name].errors = [*form[name].errors, message]
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    filters = notices.NoticeFilters(
        q=(form.q.data or "")[:100],
        project=form.project.data or "",
        kind=form.kind.data if form.kind.data in NOTICE_KINDS else "",
        zone=form.zone.data or "",
        since=datetime.combine(days.since, time.min, tz) if days.since else None,
        # The whole last day, in the office's time zone.
        before=shifted(datetime.combine(days.until, time.min, tz), timedelta(days=1))
        if days.until
        else None,
    )
    page = db.paginate(
        notices.filtered(filters, utcnow()),
        page=page_number(),
        per_page=PAGE_SIZE,
        max_per_page=PAGE_SIZE,
        error_out=False,
    )
    return render_template(
        "public/notices.html",
        form=form,
        page=page,
        projects=projects,
        zones=zones,
        kinds=NOTICE_KINDS,
    )


@bp.route("/notices/<int:notice_id>")
def notice_page(notice_id: int) -> str:
    """Show a published notice, or a withdrawn one with the reason."""
    notice = public_notice_or_404(notice_id)
    return render_template("public/notice.html", notice=notice)


@bp.route("/notices/<int:notice_id>/cover.jpg", defaults={"variant": "full"})
@bp.route("/notices/<int:notice_id>/cover.thumb.jpg", defaults={"variant": "thumb"})
def notice_cover(notice_id: int, variant: str) -> Response:
    """Serve the cover photo of a public notice."""
    notice = public_notice_or_404(notice_id)
    return cover_file(notice, variant)


def cover_file(notice: Notice, variant: str) -> Response:
    """Answer with a notice's cover photo, or 404 when it has none."""
    if not notice.cover_sha256:
        abort(404)
    return store_for_app().response(notice.cover_sha256, variant, public=True, max_age=3600)


@bp.route("/notices.atom")
def notice_feed() -> Response:
    """Serve the latest public notices as an Atom 1.0 feed."""
    listed = db.session.scalars(notices.public_notices(utcnow()).limit(FEED_SIZE)).all()
    return _atom(
        listed,
        _("Progress notices"),
        public_url_for(".notice_feed"),
        public_url_for(".notice_list"),
        empty_since=utcnow(),
    )


@bp.route("/projects/<code>/notices.atom")
def project_notice_feed(code: str) -> Response:
    """Serve a project's public notices as an Atom 1.0 feed."""
    project = db.session.scalar(select(Project).where(Project.code == code)) or abort(404)
    listed = notices.for_project(db.session, project, utcnow())[:FEED_SIZE]
    return _atom(
        listed,
        _("Notices: %(project)s", project=project.name),
        public_url_for(".project_notice_feed", code=code),
        public_url_for(".project_page", code=code),
        empty_since=project.created_at,
    )


def _atom(
    listed: list[Notice], title: str, self_url: str, page_url: str, empty_since: datetime
) -> Response:
    """Build an Atom feed of notices; `empty_since` dates a feed without entries."""
    office = _("Municipal Engineering Management Office")
    feed = FeedGenerator()
    feed.id(self_url)
    feed.title(title)
    feed.author({"name": office})
    feed.link(href=self_url, rel="self", type="application/atom+xml")
    feed.link(href=page_url, rel="alternate", type="text/html")
    feed.language(html_lang())
    feed.updated(max((n.feed_updated for n in listed), default=empty_since))
    for notice in listed:
        url = public_url_for(".notice_page", notice_id=notice.id)
        entry = feed.add_entry(order="append")
        entry.id(url)
        entry.link(href=url, rel="alternate", type="text/html")
        entry.published(notice.publish_at)
        entry.updated(notice.feed_updated)
        entry.category(term=notice.kind, label=notice_kind_label(notice.kind))
        if notice.withdrawn_at:
            entry.title(_("[Withdrawn] %(title)s", title=notice.title))
            withdrawn = render_template("public/_withdrawn.html", notice=notice)
            entry.content(withdrawn + str(markup.render(notice.body)), type="html")
        else:
            entry.title(notice.title)
            entry.content(str(markup.render(notice.body)), type="html")
        entry.summary(markup.plain(notice.body))
    return Response(feed.atom_str(pretty=True), mimetype="application/atom+xml")
