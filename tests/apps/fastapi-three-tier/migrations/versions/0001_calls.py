"""calls"""

from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.execute(
        "CREATE TABLE calls ("
        " id bigserial PRIMARY KEY,"
        " caller text NOT NULL,"
        " status text NOT NULL DEFAULT 'queued',"
        " transcript text,"
        " created_at timestamptz NOT NULL DEFAULT now())"
    )


def downgrade() -> None:
    op.execute("DROP TABLE calls")
