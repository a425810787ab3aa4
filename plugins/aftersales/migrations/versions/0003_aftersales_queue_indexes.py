"""aftersales: queue indexes for keyset pages and the kind / reason filters

The staff queue pages with ``(created_at, id) > (:at, :id)`` instead of
OFFSET; the row comparison needs an index on both columns to seek. Its
default view (open cases, oldest first) walked the created_at index past
every ended case (48 k at 1,000,000 orders, 50-150 ms): a partial index holds
only the open ones. The kind and reason filters had no index of their own.

Revision ID: 0003_aftersales
Revises: 0002_aftersales
Create Date: 2026-12-02 09:30:00

"""
from alembic import op
import sqlalchemy as sa

OPEN_SQL = "status IN ('requested', 'approved', 'awaiting_return', 'returning', 'arrived', 'inspected')"

revision = '0003_aftersales'
down_revision = '0002_aftersales'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('aftersales_cases', schema=None) as batch_op:
        batch_op.create_index('ix_aftersales_cases_created_at_id', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_aftersales_cases_kind_status', ['kind', 'status'], unique=False)
        batch_op.create_index('ix_aftersales_cases_reason_status', ['reason', 'status'], unique=False)
        batch_op.create_index('ix_aftersales_cases_open_created_at_id', ['created_at', 'id'], unique=False,
                              postgresql_where=sa.text(OPEN_SQL), sqlite_where=sa.text(OPEN_SQL))


def downgrade():
    with op.batch_alter_table('aftersales_cases', schema=None) as batch_op:
        batch_op.drop_index('ix_aftersales_cases_open_created_at_id')
        batch_op.drop_index('ix_aftersales_cases_reason_status')
        batch_op.drop_index('ix_aftersales_cases_kind_status')
        batch_op.drop_index('ix_aftersales_cases_created_at_id')
