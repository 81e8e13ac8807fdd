"""The names of the KPIs and their definitions, written so that anyone can recompute them."""

from flask_babel import lazy_gettext as _l

LABELS = {
    "on_time_response_rate": _l("On-time response rate"),
    "resolution_rate": _l("Resolution rate"),
    "on_time_resolution_rate": _l("On-time resolution rate"),
    "satisfaction_rate": _l("Satisfaction rate"),
    "rework_rate": _l("Rework rate"),
    "major_hazard_rectification_rate": _l("Major hazards rectified"),
    "inspection_pass_rate": _l("Supervisor inspection pass rate"),
    "findings_answered_48h_rate": _l("Supervisor findings answered within 48 h"),
    "acceptance_pass_rate": _l("Completion acceptance pass rate"),
}
DEFINITIONS = {
    "on_time_response_rate": _l(
        "Of the month's cases whose response was due (answered, or past the response deadline "
        "unanswered), the share first answered (accepted, rejected or merged) by the deadline."
    ),
    "resolution_rate": _l(
        "Of the month's cases not rejected, the share the department has marked resolved "
        "(resolved or closed); a case sent back for rework counts again only once resolved again."
    ),
    "on_time_resolution_rate": _l(
        "Of the month's cases not rejected whose resolution was due (resolved, or past the "
        "resolution deadline unresolved), the share resolved by the deadline."
    ),
    "satisfaction_rate": _l(
        "Of the month's cases rated by the resident, the share whose latest rating is "
        "satisfied or basically satisfied (a case sent back for rework and fixed again is "
        "rated again, and the new rating replaces the old one)."
    ),
    "rework_rate": _l(
        "Of the month's cases not rejected that were resolved at least once, the share sent back "
        "for rework (reopened by the resident or returned by the office). Lower is better."
    ),
    "major_hazard_rectification_rate": _l(
        "Of the month's cases not rejected in a major-hazard category, the share verified as "
        "rectified and closed."
    ),
    "inspection_pass_rate": _l(
        "Of the supervisors' inspection reports submitted in the month (off-site reports only "
        "once a dispatcher confirmed them), the share with no failed checklist item."
    ),
    "findings_answered_48h_rate": _l(
        "Of the month's cases from supervisors' findings whose response was due, the share "
        "answered within their 48-hour response deadline."
    ),
    "acceptance_pass_rate": _l(
        "Of the completion acceptances held in the month, the share that passed."
    ),
}
