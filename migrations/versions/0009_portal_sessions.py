"""portal sessions kept on the server, and portal addresses in one normal form

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _normal_email(email: str) -> str:
    # tenants.access.portal_users.normalize_email as of this revision.
    folded = unicodedata.normalize("NFKC", email).casefold()
    return unicodedata.normalize("NFKC", folded).strip()


def upgrade() -> None:
    op.create_table(
        "portal_sessions",
        # The SHA-256 of the session's secret; the secret is only in the cookie.
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["portal_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_portal_sessions_user_id", "portal_sessions", ["user_id"])

    # Addresses were stored stripped and lower-cased; sign-in now looks them up
    # NFKC-normalised and case-folded. An address whose new form another user
    # already has is left as it was (and reported), never merged.
    connection = op.get_bind()
    users = sa.table("portal_users", sa.column("id", sa.Uuid()), sa.column("email", sa.String))
    rows = connection.execute(sa.select(users.c.id, users.c.email)).all()
    taken = {email for _, email in rows}
    for user_id, email in rows:
        normal = _normal_email(email)
        if normal == email:
            continue
        if normal in taken:
            print(f"portal user {user_id}: {normal!r} is taken; address left as {email!r}")
            continue
        connection.execute(users.update().where(users.c.id == user_id).values(email=normal))
        taken.discard(email)
        taken.add(normal)


def downgrade() -> None:
    op.drop_index("ix_portal_sessions_user_id", table_name="portal_sessions")
    op.drop_table("portal_sessions")
