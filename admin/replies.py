"""Reply templates: the office's ready-made public answers, per category or group."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from admin import admin_required, bp
from admin.forms import ReplyTemplateForm, SimpleForm
from portal.extensions import db
from portal.models import Category, CategoryGroup, ReplyTemplate
from portal.services import replies


def _scope_choices() -> list[tuple[str, str]]:
    groups = db.session.scalars(select(CategoryGroup).order_by(CategoryGroup.sort_order))
    categories = db.session.scalars(select(Category).order_by(Category.code))
    return [
        ("", _("Every case")),
        *[(f"group:{g.code}", _("Group: %(name)s", name=g.name)) for g in groups],
        *[(f"category:{c.code}", f"{c.code} {c.name}") for c in categories],
    ]


def _scope(value: str) -> dict:
    kind, _sep, code = value.partition(":")
    model = {"group": CategoryGroup, "category": Category}.get(kind)
    if model is None:
        return {}
    found = db.session.scalar(select(model).where(model.code == code))
    return {kind: found} if found is not None else {"invalid": True}


@bp.route("/reply-templates", methods=["GET", "POST"])
@admin_required
def reply_templates() -> Response | tuple[str, int]:
    """List the reply templates and add one."""
    form = ReplyTemplateForm()
    form.scope.choices = _scope_choices()
    if form.validate_on_submit():
        scope = _scope(form.scope.data or "")
        if scope.pop("invalid", False):
            form.scope.errors.append(_("Choose a category or a group from the list."))
        else:
            replies.add(db.session, current_user, form.title.data, form.body.data, **scope)
            db.session.commit()
            return redirect(url_for(".reply_templates"), code=303)
    listed = db.session.scalars(
        select(ReplyTemplate).order_by(
            ReplyTemplate.category_id, ReplyTemplate.group_id, ReplyTemplate.id
        )
    ).all()
    return render_template(
        "admin/reply_templates.html", form=form, templates=listed, delete=SimpleForm()
    ), 200 if request.method == "GET" else 422


@bp.route("/reply-templates/<int:template_id>/delete", methods=["POST"])
@admin_required
def delete_reply_template(template_id: int) -> Response:
    """Delete a reply template."""
    template = db.session.get(ReplyTemplate, template_id) or abort(404)
    if SimpleForm().validate():
        replies.remove(db.session, current_user, template)
        db.session.commit()
    return redirect(url_for(".reply_templates"), code=303)
