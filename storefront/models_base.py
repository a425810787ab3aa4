"""Shared column helpers for models."""
from __future__ import annotations

import enum

from sqlalchemy import JSON, BigInteger, DateTime, Integer
from sqlalchemy.dialects import postgresql, sqlite

from .clock import utcnow

# Integer primary keys that are BIGINT on PostgreSQL and INTEGER (rowid
# alias) on SQLite, so a million-order shop never overflows.
#: The largest id a BIGINT primary key can hold: a larger number names no row, and sending it
#: to the database overflows its driver (a 500), so input parsers refuse it first.
MAX_ROW_ID = 2**63 - 1
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
JSONType = JSON().with_variant(postgresql.JSONB(), "postgresql")
UTCDateTime = DateTime()


def enum_values(enum_cls: type[enum.Enum]) -> list[str]:
    return [member.value for member in enum_cls]


__all__ = ["BigIntPK", "JSONType", "UTCDateTime", "utcnow", "enum_values", "sqlite"]
