"""The outbox in the back office: the mail queued, failed and sent, with why, and a retry."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from admin import admin_required, bp
from portal.extensions import db
from portal.models import OutboxMessage, utcnow
from portal.services import outbox
from portal.web import page_number

PAGE_SIZE = 50
MAX_ID = 2**31 - 1


@bp.route("/outbox")
@admin_required
def outbox_page() -> str:
    """List the mail of one status (failed first by default), newest first, with the reason."""
    status = request.args.get("status", "failed")
    if status not in outbox.STATUSES:
        status = "failed"
    query = (
        select(OutboxMessage).where(outbox.status_filter(status)).order_by(OutboxMessage.id.desc())
    )
    page = db.paginate(
        query, page=page_number(), per_page=PAGE_SIZE, max_per_page=PAGE_SIZE, error_out=False
    )
    return render_template(
        "admin/outbox.html",
        page=page,
        status=status,
        counts=outbox.counts(db.session),
        now=utcnow(),
    )


@bp.route("/outbox/<int:message_id>/retry", methods=["POST"])
@admin_required
def outbox_retry(message_id: int) -> Response:
    """Send an unsent message at the next round, now."""
    message = db.session.get(OutboxMessage, message_id) if message_id <= MAX_ID else None
    if message is None:
        abort(404)
    status = request.form.get("status", "failed")
    try:
        outbox.retry(db.session, message, current_user, utcnow())
    except ValueError:
        db.session.rollback()
        flash(_("This message was sent already."), "error")
    else:
        db.session.commit()
        flash(_("The message will be sent at the next round."), "success")
    if status not in outbox.STATUSES:
        status = "failed"
    return redirect(url_for(".outbox_page", status=status), code=303)
