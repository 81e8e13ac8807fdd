"""The block list and the queue of what blocked senders sent, held for review."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from admin import bp, dispatcher_required
from admin.forms import BlockForm, ReviewForm, SimpleForm
from portal.extensions import db
from portal.models import BlockedSender, Case, ConsultationComment, Suggestion, utcnow
from portal.services import blocklist, review

WIDEST = {"ipv4": blocklist.WIDEST_PREFIX[4], "ipv6": blocklist.WIDEST_PREFIX[6]}


def refusal(code: str, suggestion: str = "") -> str:
    """Return the translated reason a block-list or review action was refused."""
    return {
        "value": _("This is not a valid address, e-mail or phone of that kind."),
        "host_bits": _(
            "This mixes an address and a network. Enter the single address without a "
            "prefix, or the network %(network)s.",
            network=suggestion,
        ),
        "single": _(
            "Dispatchers may block single addresses only. Enter one address, or ask an "
            "admin to block a network."
        ),
        "wide": _(
            "This network is wider than /%(ipv4)s (IPv4) or /%(ipv6)s (IPv6): it could hold "
            "the reports of a whole provider, or of everyone. To block it anyway, tick the "
            "confirmation and say why.",
            **WIDEST,
        ),
        "wide_reason": _("Say why a network this wide must be blocked."),
        "kind": _("Choose what kind of sender to block."),
        "reason": _("Give a reason."),
        "exists": _("This sender is already on the block list."),
        "decided": _("This was already decided."),
    }.get(code, _("This action is not possible."))


def _end_of_day(day) -> datetime:
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    return datetime.combine(day, time.max, tz)


@bp.route("/blocklist", methods=["GET", "POST"])
@dispatcher_required
def block_list() -> Response | tuple[str, int]:
    """List the blocked senders, with what each holds, and add one, with the reason."""
    form = BlockForm()
    # Once asked, the confirmation stays on the form until the entry is added.
    asking = bool(form.confirm_wide.data or form.wide_reason.data)
    if form.validate_on_submit():
        refused = _block(form)
        if refused is None:
            db.session.commit()
            flash(_("Added to the block list."), "success")
            return redirect(url_for(".block_list"), code=303)
        db.session.rollback()
        field = form.wide_reason if refused.code == "wide_reason" else form.value
        field.errors.append(refusal(refused.code, refused.suggestion))
        asking = asking or refused.code == "wide"
    page = render_template(
        "admin/blocklist.html",
        form=form,
        asking=asking,
        entries=blocklist.listed(db.session),
        waiting=review.waiting_by_entry(db.session),
        remove_form=SimpleForm(),
        now=utcnow(),
    )
    return page, 422 if form.is_submitted() else 200


def _block(form: BlockForm) -> blocklist.BlockError | None:
    """List the sender a valid form names; return the refusal, if any."""
    expires = _end_of_day(form.expires_on.data) if form.expires_on.data else None
    try:
        blocklist.add(
            db.session,
            current_user,
            form.kind.data,
            form.value.data,
            form.reason.data,
            utcnow(),
            expires,
            confirmed=form.confirm_wide.data,
            wide_reason=form.wide_reason.data or "",
        )
    except blocklist.BlockError as error:
        return error
    return None


@bp.route("/blocklist/<int:entry_id>/remove", methods=["POST"])
@dispatcher_required
def unblock(entry_id: int) -> Response:
    """Take a sender off the block list."""
    entry = db.session.get(BlockedSender, entry_id) or abort(404)
    if SimpleForm().validate():
        blocklist.remove(db.session, current_user, entry, utcnow())
        db.session.commit()
        flash(_("Removed from the block list."), "success")
    return redirect(url_for(".block_list"), code=303)


@bp.route("/review")
@dispatcher_required
def review_queue() -> str:
    """Show what blocked senders sent, waiting for a decision."""
    return render_template("admin/review.html", held=review.held(db.session), form=ReviewForm())


HELD = {
    "cases": (Case, review.release_case, review.reject_case),
    "comments": (ConsultationComment, review.release_comment, review.reject_comment),
    "suggestions": (Suggestion, review.release_suggestion, review.reject_suggestion),
}


@bp.route("/review/<kind>/<key>/<decision>", methods=["POST"])
@dispatcher_required
def review_decide(kind: str, key: str, decision: str) -> Response:
    """Release a held item (it goes on as usual) or reject it as spam or invalid."""
    if kind not in HELD or decision not in ("release", "reject"):
        abort(404)
    model, release, reject = HELD[kind]
    if model is Case:
        item = db.session.scalar(select(Case).where(Case.number == key))
    else:
        item = db.session.get(model, int(key)) if key.isdigit() else None
    if item is None:
        abort(404)
    form = ReviewForm()
    if not form.validate():
        abort(400)
    try:
        if decision == "release":
            release(db.session, current_user, item, utcnow())
        else:
            reject(db.session, current_user, item, form.reason.data or "", utcnow())
    except review.ReviewError as error:
        db.session.rollback()
        flash(refusal(error.code), "error")
    else:
        db.session.commit()
        flash(_("Released.") if decision == "release" else _("Rejected."), "success")
    return redirect(url_for(".review_queue"), code=303)
