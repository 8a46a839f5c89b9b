"""process schedules: when a periodic process (timer start event) next starts an instance

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 14:30:00.000000
"""

from alembic import op
import sqlalchemy as sa
import storage.types


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('process_schedule',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('model_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('element_id', sa.String(length=200), nullable=False),
    sa.Column('expression_kind', sa.String(length=20), nullable=False),
    sa.Column('expression', sa.String(length=500), nullable=False),
    sa.Column('anchor_at', storage.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('next_due_at', storage.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('occurrences_started', sa.Integer(), nullable=False),
    sa.Column('last_instance_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['last_instance_id'], ['process_instance.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['model_id'], ['process_model.id'], ),
    sa.ForeignKeyConstraint(['version_id'], ['process_version.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('model_id')
    )
    with op.batch_alter_table('process_schedule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_process_schedule_next_due_at'), ['next_due_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('process_schedule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_schedule_next_due_at'))

    op.drop_table('process_schedule')
