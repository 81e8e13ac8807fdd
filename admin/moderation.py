"""Moderating a case (PIPL): redact text, hide or blur a photo, hide the case; undo; and the
photo files only staff may see."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from admin import bp
from admin.casework import case_form, render_case, staff_case_or_404
from admin.forms import ModerationForm
from portal.extensions import db
from portal.models import Case, CaseEvent, Moderation, Photo, utcnow
from portal.services import audit, moderation
from portal.services.intake import personal_data
from portal.services.photos import store_for_app

MAX_ID = 2**31 - 1  # what an id column holds: a larger one in the address is simply absent


def error_message(code: str) -> str:
    """Return the translated explanation of a refused moderation."""
    messages = {
        "forbidden": _("You may not moderate this case."),
        "reason": _("Give a reason."),
        "pieces": _("Give the pieces of text to hide, each exactly as it stands in the text."),
        "target": _("This text or photo cannot be moderated."),
        "box": _("Give a region inside the photo: left, top, width and height in percent."),
        "file": _("The photo's file is missing."),
        "done": _("This is already hidden or undone."),
        "later": _("A later moderation changed this content: undo that one first."),
    }
    return messages.get(code, _("This action is not possible."))


def _moderator_case(number: str) -> Case:
    case = staff_case_or_404(number)
    if not moderation.may_moderate(current_user):
        abort(403)
    return case


def _photo_of(case: Case, photo_id: int) -> Photo:
    photo = db.session.get(Photo, photo_id) if photo_id <= MAX_ID else None
    if photo is None or photo.case_id != case.id:
        abort(404)
    return photo


def _back(case: Case) -> Response:
    return redirect(url_for(".case_page", number=case.number, _anchor="moderation"), code=303)


def _refused(case: Case, which: str, reasons: list[str]) -> tuple[str, int]:
    """Show the case again with what was typed in the refused moderation form (`which`)
    kept, and why it was refused inside that form."""
    kept = {"form": which, "values": request.form, "reasons": reasons}
    return render_case(case, case_form(case), moderation_kept=kept), 422


def _apply(case: Case, which: str, change) -> Response | tuple[str, int]:
    """Validate the form, make the change, commit; a refused change alters nothing and its
    form comes back as it was typed."""
    form = ModerationForm()
    if not form.validate():
        db.session.rollback()
        return _refused(case, which, [e for errs in form.errors.values() for e in errs])
    try:
        change(form)
        db.session.commit()
    except moderation.ModerationError as refused:
        db.session.rollback()
        return _refused(case, which, [error_message(refused.code)])
    flash(_("Hidden from the public. The original is kept and an admin can undo it."), "success")
    return _back(case)


@bp.route("/cases/<number>/moderation/redact", methods=["POST"])
def moderate_redact(number: str) -> Response | tuple[str, int]:
    """Redact pieces of the description or of a public reply."""
    case = _moderator_case(number)

    def change(form: ModerationForm) -> None:
        event = None
        if form.target.data and form.target.data != "description":
            try:
                event_id = int(form.target.data)
            except ValueError:
                raise moderation.ModerationError("target") from None
            event = db.session.get(CaseEvent, event_id) if 0 < event_id <= MAX_ID else None
            if event is None:
                raise moderation.ModerationError("target")
        pieces = (form.pieces.data or "").splitlines()
        moderation.redact(
            db.session, case, current_user, pieces, form.reason.data, utcnow(), event=event
        )

    return _apply(case, "redact", change)


@bp.route("/cases/<number>/moderation/photos/<int:photo_id>/hide", methods=["POST"])
def moderate_hide_photo(number: str, photo_id: int) -> Response | tuple[str, int]:
    """Hide one photo from the public."""
    case = _moderator_case(number)
    photo = _photo_of(case, photo_id)
    return _apply(
        case,
        f"photo-{photo.id}",
        lambda form: moderation.hide_photo(
            db.session, case, current_user, photo, form.reason.data, utcnow()
        ),
    )


@bp.route("/cases/<number>/moderation/photos/<int:photo_id>/blur", methods=["POST"])
def moderate_blur_photo(number: str, photo_id: int) -> Response | tuple[str, int]:
    """Blur a region of a photo for the public."""
    case = _moderator_case(number)
    photo = _photo_of(case, photo_id)

    def change(form: ModerationForm) -> None:
        values = (form.left.data, form.top.data, form.width.data, form.height.data)
        if any(v is None for v in values):
            raise moderation.ModerationError("box")
        box = tuple(v / 100 for v in values)
        store = store_for_app()
        moderation.blur_photo(
            db.session, case, current_user, photo, box, form.reason.data, store, utcnow()
        )

    return _apply(case, f"photo-{photo.id}", change)


@bp.route("/cases/<number>/moderation/hide", methods=["POST"])
def moderate_hide_case(number: str) -> Response | tuple[str, int]:
    """Hide the whole case from the public."""
    case = _moderator_case(number)
    return _apply(
        case,
        "case",
        lambda form: moderation.hide_case(
            db.session, case, current_user, form.reason.data, utcnow()
        ),
    )


@bp.route("/moderations/<int:moderation_id>/undo", methods=["POST"])
def moderation_undo(moderation_id: int) -> Response:
    """Undo a moderation (admins only)."""
    if not moderation.may_undo(current_user):
        abort(403)
    found = db.session.get(Moderation, moderation_id) if moderation_id <= MAX_ID else None
    if found is None:
        abort(404)
    case = staff_case_or_404(found.case.number)
    try:
        moderation.undo(db.session, found, current_user, utcnow())
        db.session.commit()
    except moderation.ModerationError as refused:
        db.session.rollback()
        flash(error_message(refused.code), "error")
    else:
        flash(_("The moderation was undone: the public sees the content again."), "success")
    return _back(case)


def _send_photo(sha256: str | None, variant: str) -> Response:
    return store_for_app().response(sha256 or "", variant, public=False, max_age=0)


@bp.route("/cases/<number>/photos/<int:photo_id>.jpg", defaults={"variant": "full"})
@bp.route("/cases/<number>/photos/<int:photo_id>.thumb.jpg", defaults={"variant": "thumb"})
def case_photo(number: str, photo_id: int, variant: str) -> Response:
    """Serve a case's photo to staff who may open the case, hidden from the public or not."""
    case = staff_case_or_404(number)
    return _send_photo(_photo_of(case, photo_id).sha256, variant)


@bp.route("/moderations/<int:moderation_id>/original.jpg")
def moderation_original(moderation_id: int) -> Response:
    """Serve the original of a blurred photo to the roles that may see it; the download is
    in the audit log."""
    if not moderation.may_see_originals(current_user):
        abort(403)
    found = db.session.get(Moderation, moderation_id) if moderation_id <= MAX_ID else None
    if found is None or found.kind != "blur_photo":
        abort(404)
    audit.record_download(
        db.session, current_user, "photo_original", True, f"{found.case.number}/{found.photo_id}"
    )
    db.session.commit()
    return _send_photo(found.original_sha256, "full")


@bp.context_processor
def moderation_tools() -> dict:
    """Give the case page what its moderation panel shows."""
    return {"moderation_of": moderation_panel}


def moderation_panel(case: Case) -> dict:
    """Return what the moderation panel of a case shows to the signed-in staff member."""
    public_texts = [case.description, *(e.body for e in case.public_events if e.body)]
    return {
        "history": moderation.history(db.session, case),
        "may_moderate": moderation.may_moderate(current_user),
        "may_see_originals": moderation.may_see_originals(current_user),
        "may_undo": moderation.may_undo(current_user),
        "events": [
            e for e in case.public_events if e.body and e.kind in moderation.REDACTABLE_EVENTS
        ],
        # What still looks like someone's phone or identity number in the public text.
        "suggested": list(dict.fromkeys(p for t in public_texts for p in personal_data(t))),
    }
