"""The follow-up checks (回头看): the monthly draw, and staff review of flagged answers."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import BooleanField, DecimalField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from admin import bp, dispatcher_required, on_site
from portal.extensions import db
from portal.models import FollowUp, FollowUpRound, utcnow
from portal.public.forms import strip
from portal.services import followups


class FollowUpDrawForm(FlaskForm):
    """Draw the month's sample of fixed cases and accepted works to check again."""

    month = StringField(
        _l("Month (YYYY-MM)"),
        filters=[strip],
        validators=[
            DataRequired(),
            Regexp(r"^\d{4}-\d{2}$", message=_l("Give the month as YYYY-MM.")),
        ],
    )
    share = DecimalField(
        _l("Share drawn from each department (0–1)"),
        places=None,
        validators=[
            DataRequired(_l("Give the share, between 0 and 1.")),
            NumberRange(min=0.001, max=1, message=_l("Give the share, between 0 and 1.")),
        ],
    )
    seed = IntegerField(
        _l("Seed (for a reproducible draw)"),
        validators=[Optional(), NumberRange(min=0, max=2**31 - 1)],
    )
    force = BooleanField(_l("Run again even if the month was drawn"))


class ReviewForm(FlaskForm):
    """Confirm or reject a flagged answer, with the reason."""

    reason = TextAreaField(
        _l("Reason"),
        filters=[strip],
        validators=[DataRequired(_l("Give a reason.")), Length(max=1000)],
    )


@bp.route("/followups", methods=["GET", "POST"])
@dispatcher_required
def follow_up_rounds() -> Response | tuple[str, int]:
    """Draw the month's follow-up checks and show each month's results and the reviews due."""
    form = FollowUpDrawForm()
    status = 200
    if request.method == "GET":
        form.month.data = utcnow().strftime("%Y-%m")
        form.share.data = current_app.config["FOLLOWUP_SHARE"]
    elif form.validate_on_submit():
        seed = form.seed.data if form.seed.data is not None else int(utcnow().timestamp())
        try:
            round_ = followups.draw(
                db.session,
                form.month.data,
                float(form.share.data),
                seed,
                current_user,
                utcnow(),
                force=form.force.data,
            )
        except followups.FollowUpError as error:
            db.session.rollback()
            form.month.errors.append(
                {
                    "exists": _("This month is drawn already; tick “run again” to redo it."),
                    "started": _("Answers were already given for this month's follow-ups."),
                    "nobody": _("There are no active supervisors."),
                }.get(error.args[0], _("Check the month and the share."))
            )
            status = 422
        else:
            db.session.commit()
            flash(
                _(
                    "%(n)d follow-up checks drawn for %(month)s (seed %(seed)d).",
                    n=len(round_.follow_ups),
                    month=round_.month,
                    seed=round_.seed,
                ),
                "success",
            )
            return redirect(url_for(".follow_up_rounds"), code=303)
    else:
        status = 422
    rounds = db.session.scalars(
        select(FollowUpRound).order_by(FollowUpRound.month.desc()).limit(12)
    ).all()
    return render_template(
        "admin/followups.html",
        form=form,
        rounds=rounds,
        pending=followups.pending(db.session),
        review=ReviewForm(),
    ), status


@bp.route("/followups/<int:follow_up_id>/<decision>", methods=["POST"])
@dispatcher_required
def follow_up_review(follow_up_id: int, decision: str) -> Response:
    """Confirm (and apply) or reject a flagged answer, with the reason."""
    if decision not in ("confirm", "reject"):
        abort(404)
    found = db.session.get(FollowUp, follow_up_id) or abort(404)
    form = ReviewForm()
    if not form.validate_on_submit():
        flash(_("Give a reason."), "error")
        return redirect(url_for(".follow_up_rounds"), code=303)
    decide = followups.confirm if decision == "confirm" else followups.reject
    code = on_site.review(decide, found, form.reason.data, followups.FollowUpError)[1]
    if code is not None:
        flash(_("This answer needs no review, or was reviewed already."), "error")
    else:
        flash(_("Confirmed.") if decision == "confirm" else _("Rejected."), "success")
    return redirect(url_for(".follow_up_rounds"), code=303)
