"""Privacy: a resident erases the contact details given with their reports."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from portal.extensions import db, limiter
from portal.models import utcnow
from portal.public import bp
from portal.public.forms import EraseForm, PrivacyForm
from portal.services import cases, privacy
from portal.web import public_url_for


@bp.route("/privacy", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_PRIVACY"], methods=["POST"])
def privacy_page() -> str | tuple[str, int]:
    """Explain what the portal keeps, and mail a link that erases a resident's contacts."""
    form = PrivacyForm()
    if form.validate_on_submit():
        privacy.request_erasure(
            db.session,
            form.email.data,
            lambda token: public_url_for(".privacy_erase", token=token),
            str(get_locale()),
        )
        db.session.commit()
        # The same answer whether or not the address is known: it reveals nothing.
        return render_template("public/privacy_sent.html")
    status = 200 if request.method == "GET" else 422
    return render_template("public/privacy.html", form=form), status


@bp.route("/privacy/erase/<token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_PRIVACY"], methods=["POST"])
def privacy_erase(token: str) -> str | tuple[str, int]:
    """Confirm, then erase every contact given with the e-mail the signed link stands for.

    Opening the link only asks: mail scanners that follow links must not erase anything.
    """
    email = privacy.email_of_link(token)
    if email is None:
        return render_template("public/privacy_erase.html", expired=True), 410
    form = EraseForm()
    if form.validate_on_submit():
        privacy.erase_email(db.session, email, utcnow())
        db.session.commit()
        return render_template("public/privacy_erase.html", done=True)
    return render_template("public/privacy_erase.html", form=form)


@bp.route("/track/<token>/erase", methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_PRIVACY"])
def erase_contact(token: str) -> Response:
    """Erase the reporter's contact details on this case; the case stays."""
    case = cases.find_by_token(db.session, token) or abort(404)
    if EraseForm().validate_on_submit():
        privacy.erase_case_contact(db.session, case, utcnow())
        db.session.commit()
        flash(_("Your name, phone and e-mail were erased from this case."), "success")
    return redirect(url_for(".track", token=token), code=303)
