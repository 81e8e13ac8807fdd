"""sensor readings (partitioned by month on PostgreSQL), hourly aggregates, detection
rules, alarms, machine detections, a device's bad readings by reason and the case
source "sensor"

Revision ID: 5e4a1c9d7b20
Revises: 5d2a9c71e4b3
Create Date: 2026-11-29 22:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


revision = "5e4a1c9d7b20"
down_revision = "5d2a9c71e4b3"
branch_labels = None
depends_on = None

OLD_SOURCES = "source IN ('web', 'api', 'inspection', 'phone', 'letter', 'visit')"
NEW_SOURCES = "source IN ('web', 'api', 'inspection', 'phone', 'letter', 'visit', 'sensor')"


def _rule(code, zh, en, kind, rule_kind, metric, params, category=""):
    return {
        "code": code,
        "name_zh": zh,
        "name_en": en,
        "device_kind": kind,
        "rule_kind": rule_kind,
        "metric": metric,
        "params": params,
        "category_code": category,
        "active": True,
    }


# The defaults (admins edit them): GB 12523-2011 for site noise (70 dB(A) by day, 55 at
# night 22:00–06:00, no night peak above the limit + 15), 15 cm of water on a carriageway,
# a cover tilted 15° or open, PM10 above the local limit (the PM10_LIMIT setting) as an
# hourly mean; silence after 30 (60 for covers) minutes.
DEFAULT_RULES = [
    _rule(
        "water_deep", "积水超过15厘米", "Water 15 cm or deeper", "water_depth", "threshold",
        "depth", {"limit": 15, "hysteresis": 3, "min_seconds": 120, "clear_seconds": 900},
        "0203",
    ),
    _rule(
        "water_rising", "水位快速上涨", "Water rising fast", "water_depth", "rate", "depth",
        {"max_per_minute": 2, "window_seconds": 300, "clear_seconds": 900}, "0203",
    ),
    _rule("water_silent", "设备离线", "Device silent", "water_depth", "silence", "", {"minutes": 30}),
    _rule(
        "cover_tilt", "井盖倾斜超过15°", "Cover tilted 15° or more", "cover_tilt", "threshold",
        "tilt", {"limit": 15, "hysteresis": 3, "clear_seconds": 600}, "0401",
    ),
    _rule(
        "cover_open", "井盖打开", "Cover open", "cover_tilt", "threshold", "open",
        {"limit": 1, "hysteresis": 0.5, "clear_seconds": 600}, "0401",
    ),
    _rule("cover_silent", "设备离线", "Device silent", "cover_tilt", "silence", "", {"minutes": 60}),
    _rule(
        "pm10_hourly", "PM10小时均值超标", "PM10 hourly mean above the limit", "dust_pm10",
        "threshold", "pm10",
        {"limit": "PM10_LIMIT", "mean_seconds": 3600, "hysteresis": 10, "clear_seconds": 1800},
        "0701",
    ),
    _rule(
        "pm10_baseline", "PM10偏离常态", "PM10 far from its usual level", "dust_pm10",
        "baseline", "pm10", {"max_z": 5, "min_samples": 4, "min_mad": 5, "clear_seconds": 3600},
        "0701",
    ),
    _rule("pm10_silent", "设备离线", "Device silent", "dust_pm10", "silence", "", {"minutes": 30}),
    _rule(
        "noise_limit", "施工噪声超标", "Construction noise above the limit", "noise",
        "threshold", "noise",
        {
            "limit": 70,
            "night_limit": 55,
            "night_peak": 15,
            "min_seconds": 300,
            "hysteresis": 2,
            "clear_seconds": 900,
        },
        "0702",
    ),
    _rule("noise_silent", "设备离线", "Device silent", "noise", "silence", "", {"minutes": 30}),
]


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        # Declarative partitioning by month; the key includes the partition column (ts).
        # A default partition catches what arrives before its month's partition exists.
        op.execute(
            """
            CREATE TABLE reading (
                device_id INTEGER NOT NULL
                    CONSTRAINT fk_reading_device_id_device REFERENCES device (id),
                ts TIMESTAMP WITH TIME ZONE NOT NULL,
                metric VARCHAR(16) NOT NULL,
                value FLOAT NOT NULL,
                CONSTRAINT pk_reading PRIMARY KEY (device_id, ts, metric)
            ) PARTITION BY RANGE (ts)
            """
        )
        op.execute("CREATE TABLE reading_default PARTITION OF reading DEFAULT")
        op.execute("CREATE INDEX ix_reading_ts ON reading USING brin (ts)")
    else:
        op.create_table(
            "reading",
            sa.Column("device_id", sa.Integer(), nullable=False),
            sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
            sa.Column("metric", sa.String(length=16), nullable=False),
            sa.Column("value", sa.Float(), nullable=False),
            sa.ForeignKeyConstraint(
                ["device_id"], ["device.id"], name=op.f("fk_reading_device_id_device")
            ),
            sa.PrimaryKeyConstraint("device_id", "ts", "metric", name=op.f("pk_reading")),
        )
        op.create_index("ix_reading_ts", "reading", ["ts"], unique=False)

    op.create_table(
        "reading_hour",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("low", sa.Float(), nullable=False),
        sa.Column("high", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name=op.f("fk_reading_hour_device_id_device")
        ),
        sa.PrimaryKeyConstraint("device_id", "hour", "metric", name=op.f("pk_reading_hour")),
    )
    op.create_table(
        "detection_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name_zh", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("device_kind", sa.String(length=20), nullable=True),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("rule_kind", sa.String(length=12), nullable=False),
        sa.Column("metric", sa.String(length=16), server_default="", nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("category_code", sa.String(length=20), server_default="", nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "rule_kind IN ('threshold', 'rate', 'baseline', 'silence')",
            name=op.f("ck_detection_rule_rule_kind"),
        ),
        sa.CheckConstraint(
            "device_kind IS NOT NULL OR device_id IS NOT NULL",
            name=op.f("ck_detection_rule_device_kind_or_device"),
        ),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name=op.f("fk_detection_rule_device_id_device")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_detection_rule")),
    )
    op.create_index(
        op.f("ix_detection_rule_device_id"), "detection_rule", ["device_id"], unique=False
    )
    rule = sa.table(
        "detection_rule",
        sa.column("code", sa.String),
        sa.column("name_zh", sa.String),
        sa.column("name_en", sa.String),
        sa.column("device_kind", sa.String),
        sa.column("rule_kind", sa.String),
        sa.column("metric", sa.String),
        sa.column("params", sa.JSON),
        sa.column("category_code", sa.String),
        sa.column("active", sa.Boolean),
    )
    op.bulk_insert(rule, DEFAULT_RULES)
    op.create_table(
        "detection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=True),
        sa.Column("camera", sa.String(length=100), server_default="", nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("snapshot_sha256", sa.String(length=64), server_default="", nullable=False),
        sa.Column("raised", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_key.id"], name=op.f("fk_detection_api_key_id_api_key")
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"], ["facility.id"], name=op.f("fk_detection_facility_id_facility")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_detection")),
    )
    op.create_index(op.f("ix_detection_api_key_id"), "detection", ["api_key_id"], unique=False)
    op.create_table(
        "alarm",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("detection_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("summary", sa.String(length=255), server_default="", nullable=False),
        sa.Column("category_code", sa.String(length=20), server_default="", nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_breach_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("breach_count", sa.Integer(), nullable=False),
        sa.Column("peak_value", sa.Float(), nullable=True),
        sa.Column("normal_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalation_level", sa.Integer(), server_default="0", nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by_id", sa.Integer(), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_by_id", sa.Integer(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("dismiss_reason", sa.Text(), server_default="", nullable=False),
        sa.CheckConstraint(
            "state IN ('raised', 'acknowledged', 'verified', 'case', 'dismissed', 'cleared')",
            name=op.f("ck_alarm_state"),
        ),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_id"], ["account.id"], name=op.f("fk_alarm_acknowledged_by_id_account")
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_alarm_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["detection_id"], ["detection.id"], name=op.f("fk_alarm_detection_id_detection")
        ),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name=op.f("fk_alarm_device_id_device")
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["detection_rule.id"], name=op.f("fk_alarm_rule_id_detection_rule")
        ),
        sa.ForeignKeyConstraint(
            ["verified_by_id"], ["account.id"], name=op.f("fk_alarm_verified_by_id_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm")),
    )
    op.create_index(op.f("ix_alarm_case_id"), "alarm", ["case_id"], unique=False)
    op.create_index(op.f("ix_alarm_detection_id"), "alarm", ["detection_id"], unique=False)
    op.create_index(
        "ix_alarm_device_rule_state", "alarm", ["device_id", "rule_id", "state"], unique=False
    )
    op.create_index("ix_alarm_state_opened", "alarm", ["state", "opened_at"], unique=False)

    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("bad_reasons", sa.JSON(), server_default="{}", nullable=False)
        )

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_cases_source"), type_="check")
        batch_op.create_check_constraint("source", NEW_SOURCES)


def downgrade():
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_cases_source"), type_="check")
        batch_op.create_check_constraint("source", OLD_SOURCES)
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.drop_column("bad_reasons")
    op.drop_table("alarm")
    op.drop_table("detection")
    op.drop_table("detection_rule")
    op.drop_table("reading_hour")
    op.drop_table("reading")
