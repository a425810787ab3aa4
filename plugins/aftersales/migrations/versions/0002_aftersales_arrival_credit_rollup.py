"""aftersales: separate arrival and inspection of returns, refund method, daily metrics roll-up

Returns used to be "received" (arrival and inspection in one step, one
``received_at``). DOMAIN.md §7 measures transit (posted -> arrived) and
inspection (arrived -> inspected) separately, so a case now goes
returning -> arrived -> inspected. Existing rows: status ``received``
becomes ``inspected``; ``arrived_at`` and ``inspected_at`` both take the old
``received_at`` (the two happened in one click), which is then dropped.

Revision ID: 0002_aftersales
Revises: 0001_aftersales
Create Date: 2026-12-02 04:40:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002_aftersales'
down_revision = '0001_aftersales'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('aftersales_cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refund_method', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('arrived_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('inspected_at', sa.DateTime(), nullable=True))
    op.execute("UPDATE aftersales_cases SET arrived_at = received_at, inspected_at = received_at "
               "WHERE received_at IS NOT NULL")
    op.execute("UPDATE aftersales_cases SET status = 'inspected' WHERE status = 'received'")
    # Every refund so far went through the payment provider.
    op.execute("UPDATE aftersales_cases SET refund_method = 'original' WHERE refunded_at IS NOT NULL")
    with op.batch_alter_table('aftersales_cases', schema=None) as batch_op:
        batch_op.drop_column('received_at')

    op.create_table('aftersales_metric_days',
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('utc_offset', sa.Integer(), nullable=False),
    sa.Column('figures', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('computed_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_aftersales_metric_days'))
    )
    with op.batch_alter_table('aftersales_metric_days', schema=None) as batch_op:
        batch_op.create_index('ix_aftersales_metric_days_computed_at', ['computed_at'], unique=False)


def downgrade():
    with op.batch_alter_table('aftersales_metric_days', schema=None) as batch_op:
        batch_op.drop_index('ix_aftersales_metric_days_computed_at')
    op.drop_table('aftersales_metric_days')
    with op.batch_alter_table('aftersales_cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('received_at', sa.DateTime(), nullable=True))
    op.execute("UPDATE aftersales_cases SET received_at = inspected_at")
    op.execute("UPDATE aftersales_cases SET status = 'received' WHERE status IN ('arrived', 'inspected')")
    with op.batch_alter_table('aftersales_cases', schema=None) as batch_op:
        batch_op.drop_column('inspected_at')
        batch_op.drop_column('arrived_at')
        batch_op.drop_column('refund_method')
