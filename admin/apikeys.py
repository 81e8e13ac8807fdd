"""API keys of outside systems (Open311): who holds them, their use, whether the portal mails
their reporters, and revoking them."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from admin import admin_required, bp
from admin.forms import ApiKeyMailForm, SimpleForm
from portal.extensions import db
from portal.models import ApiKey, utcnow
from portal.services import apikeys


@bp.route("/api-keys")
@admin_required
def api_keys() -> str:
    """List the API keys with their owner, creation and last use."""
    return render_template(
        "admin/api_keys.html",
        keys=apikeys.listed(db.session),
        form=SimpleForm(),
        mail_form=ApiKeyMailForm(),
    )


@bp.route("/api-keys/<int:key_id>/revoke", methods=["POST"])
@admin_required
def revoke_api_key(key_id: int) -> Response:
    """Revoke one API key."""
    key = db.session.get(ApiKey, key_id) or abort(404)
    if SimpleForm().validate():
        apikeys.revoke(db.session, current_user, key, utcnow())
        db.session.commit()
        flash(_("The key of %(name)s is revoked.", name=key.name), "success")
    return redirect(url_for(".api_keys"), code=303)


@bp.route("/api-keys/<int:key_id>/mail", methods=["POST"])
@admin_required
def api_key_mail(key_id: int) -> Response:
    """Allow or stop mail to the reporters of the cases a key's system posts."""
    key = db.session.get(ApiKey, key_id) or abort(404)
    form = ApiKeyMailForm()
    if form.validate():
        allow = form.allow.data == "1"
        apikeys.set_mail_reporters(db.session, current_user, key, allow, utcnow())
        db.session.commit()
        if allow:
            done = _("The portal now mails the reporters of %(name)s.", name=key.name)
        else:
            done = _("The portal no longer mails the reporters of %(name)s.", name=key.name)
        flash(done, "success")
    return redirect(url_for(".api_keys"), code=303)
