"""Admins' settings: accounts, departments, routing rules, zones, the working calendar."""

from __future__ import annotations

import io
import json

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from admin import admin_required, bp
from admin.forms import (
    DepartmentForm,
    NewDepartmentForm,
    RuleForm,
    SimpleForm,
    TwoFactorResetForm,
    UploadForm,
    UserForm,
)
from admin.queue import department_choices
from portal.extensions import db
from portal.models import (
    CalendarDay,
    Category,
    CategoryGroup,
    Department,
    RoutingRule,
    User,
    Zone,
    utcnow,
)
from portal.services import accounts, audit, calendar, password_links, two_factor, zones


@bp.route("/users", methods=["GET", "POST"])
@admin_required
def users() -> Response | tuple[str, int]:
    """List accounts and create one; its owner is mailed a link to choose the password."""
    form = UserForm()
    form.department.choices = [("", "—"), *department_choices()]
    if form.validate_on_submit():
        department = (
            db.session.scalar(select(Department).where(Department.code == form.department.data))
            if form.department.data
            else None
        )
        try:
            user = accounts.create(
                db.session,
                current_user,
                form.email.data,
                form.name.data,
                form.role.data,
                department=department,
                now=utcnow(),
            )
        except accounts.AccountError as error:
            db.session.rollback()
            # Each refusal goes under the field to correct, not always under the e-mail.
            if error.args[0] == "department":
                form.department.errors.append(_("A handler needs a department."))
            else:
                message = {"email": _("An account with this e-mail exists.")}
                form.email.errors.append(
                    message.get(error.args[0], _("The account was not created."))
                )
        else:
            password_links.mail_setup_link(db.session, user)
            db.session.commit()
            flash(
                _(
                    "Account %(email)s created. A link to choose its password was mailed to "
                    "that address; it is valid for %(days)d days.",
                    email=user.email,
                    days=password_links.link_days(),
                ),
                "success",
            )
            return redirect(url_for(".users"), code=303)
    listed = db.session.scalars(select(User).order_by(User.role, User.email)).all()
    status = 200 if request.method == "GET" else 422
    return render_template(
        "admin/users.html",
        form=form,
        users=listed,
        toggle=SimpleForm(),
        two_factor_on=two_factor.enabled_ids(db.session),
    ), status


@bp.route("/users/<int:user_id>/toggle", methods=["POST"])
@admin_required
def toggle_user(user_id: int) -> Response:
    """Disable an account, or enable it again."""
    user = db.session.get(User, user_id) or abort(404)
    if not SimpleForm().validate() or user.id == current_user.id:
        flash(_("You cannot disable your own account."), "error")
        return redirect(url_for(".users"), code=303)
    accounts.set_active(db.session, current_user, user, not user.active, utcnow())
    db.session.commit()
    return redirect(url_for(".users"), code=303)


@bp.route("/users/<int:user_id>/two-factor", methods=["GET", "POST"])
@admin_required
def reset_two_factor(user_id: int) -> Response | tuple[str, int]:
    """Reset another account's two-factor sign-in (a lost phone), with a reason."""
    user = db.session.get(User, user_id) or abort(404)
    if user.id == current_user.id or not two_factor.is_enabled(db.session, user):
        abort(404)
    form = TwoFactorResetForm()
    if form.validate_on_submit():
        two_factor.reset(db.session, current_user, user, form.reason.data, utcnow())
        db.session.commit()
        flash(
            _("Two-factor sign-in of %(email)s was reset.", email=user.email),
            "success",
        )
        return redirect(url_for(".users"), code=303)
    status = 200 if request.method == "GET" else 422
    return render_template("admin/two_factor_reset.html", form=form, user=user), status


@bp.route("/departments", methods=["GET", "POST"])
@admin_required
def departments() -> Response | tuple[str, int]:
    """List the departments and add one."""
    form = NewDepartmentForm()
    if form.validate_on_submit():
        dept = Department(code=form.code.data, name_zh=form.name_zh.data, name_en=form.name_en.data)
        db.session.add(dept)
        db.session.flush()
        audit.record(
            db.session,
            current_user,
            "department.create",
            "department",
            dept.code,
            after={"name_zh": dept.name_zh, "name_en": dept.name_en},
        )
        db.session.commit()
        flash(_("Department added: now set its head, e-mail and where it escalates."), "success")
        return redirect(url_for(".department", code=dept.code), code=303)
    listed = db.session.scalars(select(Department).order_by(Department.code)).all()
    return render_template("admin/departments.html", departments=listed, form=form), (
        200 if request.method == "GET" else 422
    )


@bp.route("/departments/<code>", methods=["GET", "POST"])
@admin_required
def department(code: str) -> Response | tuple[str, int]:
    """Edit a department's contact, head and the department it escalates to."""
    dept = db.session.scalar(select(Department).where(Department.code == code)) or abort(404)
    form = DepartmentForm(obj=dept if request.method == "GET" else None)
    staff = db.session.scalars(select(User).where(User.role != "supervisor", User.active)).all()
    form.head.choices = [("", "—"), *[(str(u.id), f"{u.name} <{u.email}>") for u in staff]]
    form.parent.choices = [("", "—"), *[c for c in department_choices() if c[0] != code]]
    if request.method == "GET":
        form.head.data = str(dept.head_id or "")
        form.parent.data = dept.parent.code if dept.parent else ""
    if form.validate_on_submit():
        before = {
            "email": dept.email,
            "phone": dept.phone,
            "head": dept.head_id,
            "parent": dept.parent_id,
            "active": dept.active,
        }
        dept.email, dept.phone, dept.active = (
            form.email.data or "",
            form.phone.data or "",
            form.active.data,
        )
        dept.head = db.session.get(User, int(form.head.data)) if form.head.data else None
        dept.parent = (
            db.session.scalar(select(Department).where(Department.code == form.parent.data))
            if form.parent.data
            else None
        )
        db.session.flush()
        audit.record(
            db.session,
            current_user,
            "department.update",
            "department",
            code,
            before,
            {
                "email": dept.email,
                "phone": dept.phone,
                "head": dept.head_id,
                "parent": dept.parent_id,
                "active": dept.active,
            },
        )
        db.session.commit()
        flash(_("Saved."), "success")
        return redirect(url_for(".departments"), code=303)
    return render_template("admin/department.html", form=form, department=dept), (
        200 if request.method == "GET" else 422
    )


@bp.route("/rules", methods=["GET", "POST"])
@admin_required
def rules() -> Response | tuple[str, int]:
    """List the routing rules and add one; the most specific rule wins."""
    form = RuleForm()
    form.category.choices = [
        ("", "—"),
        *[
            (c.code, f"{c.code} {c.name}")
            for c in db.session.scalars(select(Category).order_by(Category.code))
        ],
    ]
    form.group.choices = [
        ("", "—"),
        *[(g.code, g.name) for g in db.session.scalars(select(CategoryGroup))],
    ]
    form.zone.choices = [
        ("", "—"),
        *[(z.code, z.name) for z in db.session.scalars(select(Zone).order_by(Zone.code))],
    ]
    form.department.choices = department_choices()
    if form.validate_on_submit():
        if form.category.data and form.group.data:
            form.group.errors.append(_("Choose a category or a group, not both."))
        else:
            rule = RoutingRule(
                category_id=_id(Category, form.category.data),
                group_id=_id(CategoryGroup, form.group.data),
                zone_id=_id(Zone, form.zone.data),
                department_id=_id(Department, form.department.data),
            )
            db.session.add(rule)
            db.session.flush()
            audit.record(
                db.session,
                current_user,
                "rule.create",
                "routing_rule",
                rule.id,
                after={
                    k: getattr(form, k).data for k in ("category", "group", "zone", "department")
                },
            )
            db.session.commit()
            return redirect(url_for(".rules"), code=303)
    listed = db.session.scalars(select(RoutingRule).order_by(RoutingRule.id)).all()
    return render_template(
        "admin/rules.html", form=form, rules=listed, delete=SimpleForm(), names=_rule_names()
    ), 200 if request.method == "GET" else 422


def _id(model: type, code: str) -> int | None:
    return db.session.scalar(select(model.id).where(model.code == code)) if code else None


def _rule_names() -> dict:
    return {
        "category": {c.id: c.name for c in db.session.scalars(select(Category))},
        "group": {g.id: g.name for g in db.session.scalars(select(CategoryGroup))},
        "zone": {z.id: z.name for z in db.session.scalars(select(Zone))},
    }


@bp.route("/rules/<int:rule_id>/delete", methods=["POST"])
@admin_required
def delete_rule(rule_id: int) -> Response:
    """Remove a routing rule."""
    rule = db.session.get(RoutingRule, rule_id) or abort(404)
    if SimpleForm().validate():
        audit.record(
            db.session,
            current_user,
            "rule.delete",
            "routing_rule",
            rule.id,
            before={
                "category": rule.category_id,
                "group": rule.group_id,
                "zone": rule.zone_id,
                "department": rule.department_id,
            },
        )
        db.session.delete(rule)
        db.session.commit()
    return redirect(url_for(".rules"), code=303)


@bp.route("/zones", methods=["GET", "POST"])
@admin_required
def zone_list() -> Response | tuple[str, int]:
    """Show the zones on a map and import more from GeoJSON."""
    form = UploadForm()
    if form.validate_on_submit():
        try:
            added, updated = zones.import_geojson(
                db.session,
                json.load(io.TextIOWrapper(form.file.data.stream, "utf-8")),
                current_user,
            )
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
            db.session.rollback()
            form.file.errors.append(_("The file could not be imported: %(error)s", error=error))
        else:
            db.session.commit()
            flash(
                _("%(added)d zones added, %(updated)d updated.", added=added, updated=updated),
                "success",
            )
            return redirect(url_for(".zone_list"), code=303)
    listed = db.session.scalars(select(Zone).order_by(Zone.code)).all()
    geojson = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": z.geometry,
                "properties": {"code": z.code, "name": z.name, "level": z.level},
            }
            for z in listed
        ],
    }
    return render_template(
        "admin/zones.html", form=form, zones=listed, geojson=json.dumps(geojson, ensure_ascii=False)
    ), (200 if request.method == "GET" else 422)


@bp.route("/calendar", methods=["GET", "POST"])
@admin_required
def calendar_page() -> Response | tuple[str, int]:
    """Show which years' holidays are entered and import a year from CSV."""
    form = UploadForm()
    if form.validate_on_submit():
        try:
            imported = calendar.import_csv(
                db.session, io.TextIOWrapper(form.file.data.stream, "utf-8-sig"), current_user
            )
        except UnicodeDecodeError:
            db.session.rollback()
            form.file.errors.append(
                _("The file is not UTF-8 text: save it as CSV (UTF-8) and import it again.")
            )
        except ValueError as error:
            db.session.rollback()
            form.file.errors.append(_("The file could not be imported: %(error)s", error=error))
        else:
            db.session.commit()
            flash(
                _(
                    "%(n)d days imported. The deadlines of %(moved)d open cases were recomputed.",
                    n=imported.days,
                    moved=len(imported.moved),
                ),
                "success",
            )
            return redirect(url_for(".calendar_page"), code=303)
    days = db.session.scalars(select(CalendarDay).order_by(CalendarDay.day.desc())).all()
    missing = calendar.missing_year(db.session, utcnow().date())
    years = sorted({d.day.year for d in days}, reverse=True)
    return render_template(
        "admin/calendar.html",
        form=form,
        years=years,
        recent=[d for d in days if d.day.year >= utcnow().year],
        missing=missing,
        missing_holidays=calendar.holidays_missing(db.session, missing) if missing else [],
        holiday_name=calendar.chinese_name,
    ), 200 if request.method == "GET" else 422
