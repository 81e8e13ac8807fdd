"""session versions, forced password changes, and no passwords left in mailed messages

Adds account.session_version (kept in every session: bumping it ends them all) and
account.must_change_password. Rewrites the supervisor approval mails that carried a password
("Password: …" / "密码：…") to say a set-password link must be asked for; the account of such
a mail whose password was never changed since loses that password (it sits in every backup),
and every other account still on the password it was handed at creation must change it at
its next sign-in.

Revision ID: 958c2c132264
Revises: 885943ae5f6d
Create Date: 2026-11-29 18:00:00.000000

"""
import re

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '958c2c132264'
down_revision = '885943ae5f6d'
branch_labels = None
depends_on = None

# The line the approval mail had, in both languages (portal/services/supervisors.py before this
# revision: "Password: %(password)s (change it after signing in)", in Chinese "密码：… （登录后请修改）").
PASSWORD_LINE = re.compile(r'^[ \t]*(Password:|密码：)[^\n]*$', re.MULTILINE)
REPLACEMENT = {
    'Password:': (
        'The password that was here has been removed. To sign in, ask for a link to set your '
        'password with "Forgot your password?" on the sign-in page.'
    ),
    '密码：': '原密码已从本邮件中删除。请在登录页点击“忘记密码？”，申请设置密码的链接后再登录。',
}

account = sa.table(
    'account',
    sa.column('id', sa.Integer),
    sa.column('email', sa.String),
    sa.column('password_hash', sa.String),
    sa.column('must_change_password', sa.Boolean),
)
outbox_message = sa.table(
    'outbox_message',
    sa.column('id', sa.Integer),
    sa.column('recipient', sa.String),
    sa.column('body', sa.Text),
)
audit_entry = sa.table(
    'audit_entry',
    sa.column('action', sa.String),
    sa.column('object_type', sa.String),
    sa.column('object_id', sa.String),
)


def upgrade():
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('session_version', sa.Integer(), server_default='0', nullable=False)
        )
        batch_op.add_column(
            sa.Column('must_change_password', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    remove_mailed_passwords(op.get_bind())


def remove_mailed_passwords(connection):
    """Rewrite the mails that carried a password; retire or flag the passwords handed out."""
    changed = sa.select(audit_entry.c.object_id).where(
        audit_entry.c.action == 'account.password', audit_entry.c.object_type == 'account'
    )
    changed_ids = {int(i) for i in connection.execute(changed).scalars() if str(i).isdigit()}
    mailed_to = set()
    rows = connection.execute(
        sa.select(outbox_message.c.id, outbox_message.c.recipient, outbox_message.c.body).where(
            sa.or_(
                outbox_message.c.body.contains('Password:'), outbox_message.c.body.contains('密码：')
            )
        )
    ).all()
    for row in rows:
        body = PASSWORD_LINE.sub(lambda m: REPLACEMENT[m.group(1)], row.body)
        if body != row.body:
            connection.execute(
                outbox_message.update().where(outbox_message.c.id == row.id).values(body=body)
            )
            mailed_to.add((row.recipient or '').strip().lower())
    for user_id, email, password_hash in connection.execute(
        sa.select(account.c.id, account.c.email, account.c.password_hash)
    ).all():
        if not password_hash or user_id in changed_ids:
            continue
        if email in mailed_to:
            values = {'password_hash': '', 'must_change_password': False}
        else:
            values = {'must_change_password': True}
        connection.execute(account.update().where(account.c.id == user_id).values(**values))


def downgrade():
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')
        batch_op.drop_column('session_version')
