"""The way back to a case: the query-code lookup, private links mailed on request, and
followers' unsubscribe links."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.extensions import db, limiter
from portal.models import Case
from portal.public import bp
from portal.public.forms import LinkRequestForm, SendLinkForm, TrackLookupForm, UnsubscribeForm
from portal.services import case_links, notify


def _posted_case() -> str:
    """Key a limit by the case number posted, so one case is not tried from many addresses."""
    number = request.form.get("number") or request.form.get("case_number") or ""
    return "case:" + number.strip()[:20]


def _number_in_path() -> str:
    """Key a limit by the case number in the address."""
    return "case:" + str((request.view_args or {}).get("number", ""))[:20]


def _forms(number: str = "") -> dict:
    return {
        "lookup_form": TrackLookupForm(formdata=None, number=number),
        "link_form": LinkRequestForm(formdata=None, case_number=number),
    }


@bp.route("/track")
def track_lookup() -> str:
    """Show the forms that open a case with its query code or mail its private link."""
    number = (request.args.get("number") or "").strip()[:20]
    return render_template("public/track.html", **_forms(number))


@bp.route("/track", methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_TRACK_LOOKUP"])
@limiter.limit(lambda: current_app.config["RATELIMIT_TRACK_LOOKUP_CASE"], key_func=_posted_case)
def track_open() -> Response | tuple[str, int]:
    """Open the private page of the case a number and query code stand for."""
    form = TrackLookupForm()
    forms = _forms(form.number.data or "") | {"lookup_form": form}
    if form.validate():
        case = case_links.case_of_query_code(db.session, form.number.data, form.code.data)
        if case is not None:
            return redirect(url_for(".track", token=case_links.private_token(case)), code=303)
        # The same words whether the case exists or not: they reveal nothing.
        form.code.errors.append(
            _("This case number and query code do not match. Check both and try again.")
        )
    return render_template("public/track.html", **forms), 422


@bp.route("/track/link", methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_TRACK_LINK"])
@limiter.limit(lambda: current_app.config["RATELIMIT_TRACK_LINK_CASE"], key_func=_posted_case)
def track_link() -> str | tuple[str, int]:
    """Mail a case's private link to the address given with it, if the typed one matches."""
    form = LinkRequestForm()
    if not form.validate():
        forms = _forms(form.case_number.data or "") | {"link_form": form}
        return render_template("public/track.html", **forms), 422
    case = db.session.scalar(select(Case).where(Case.number == form.case_number.data))
    email = form.email.data.lower()
    if case is not None and case.reporter_email and case.reporter_email.lower() == email:
        notify.private_link(db.session, case, case.reporter_email, case.reporter_locale)
        db.session.commit()
    # The same page whether or not the address matched: it reveals nothing.
    return render_template("public/track.html", sent=True, **_forms(form.case_number.data))


@bp.route("/report/done/<number>/send", methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_TRACK_LINK"])
@limiter.limit(lambda: current_app.config["RATELIMIT_TRACK_LINK_CASE"], key_func=_number_in_path)
def report_send_link(number: str) -> Response | tuple[str, int]:
    """Mail the private link of the case just reported to an address the reporter types."""
    from portal.public.report import confirmation_context

    context = confirmation_context(number)
    if context is None:
        return redirect(url_for(".case_page", number=number), code=303)
    form = SendLinkForm()
    if not form.validate():
        return render_template("public/report_done.html", send_form=form, **context), 422
    notify.private_link(db.session, context["case"], form.email.data.lower(), str(get_locale()))
    db.session.commit()
    return redirect(url_for(".report_done", number=number, sent=1), code=303)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_FOLLOW"], methods=["POST"])
def unsubscribe(token: str) -> str | tuple[str, int]:
    """Confirm, then stop a follower's mail about a case (no sign-in needed).

    Opening the link only asks: mail scanners that follow links must not unsubscribe anyone.
    """
    follower = case_links.follower_of_unsubscribe(db.session, token)
    if follower is None:
        return render_template("public/unsubscribe.html", invalid=True), 404
    form = UnsubscribeForm()
    done = not follower.email
    if not done and form.validate_on_submit():
        case_links.unsubscribe(follower)
        db.session.commit()
        done = True
    return render_template("public/unsubscribe.html", form=form, case=follower.case, done=done)
