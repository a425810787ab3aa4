"""core: index for the owed-refunds sweep (closed orders by close time)

The sweep (storefront/payments/owed.py) looks at orders closed in the last
seven days that still hold money; without an index it would scan every
closed order on each tick.

Revision ID: 0002_core
Revises: 0001_core
Create Date: 2026-12-02 10:40:00

"""
from alembic import op

revision = '0002_core'
down_revision = '0001_core'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_status_closed_at', ['status', 'closed_at'], unique=False)


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_status_closed_at')
