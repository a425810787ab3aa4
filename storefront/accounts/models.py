from __future__ import annotations

import enum
import secrets

from flask_login import UserMixin
from sqlalchemy import Enum, ForeignKey, String, Boolean
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from ..models_base import BigIntPK, UTCDateTime, enum_values, utcnow


class Role(enum.StrEnum):
    BUYER = "buyer"
    STAFF = "staff"
    OWNER = "owner"


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=16, values_callable=enum_values), default=Role.BUYER
    )
    is_active_account: Mapped[bool] = mapped_column(Boolean, default=True)
    # Rotated at logout-everywhere and password change: Flask-Login's user id
    # embeds it, so old session and remember-me cookies stop working.
    session_token: Mapped[str] = mapped_column(String(64), default=lambda: secrets.token_hex(16))
    locale: Mapped[str | None] = mapped_column(String(16))
    created_at = mapped_column(UTCDateTime, default=utcnow)

    addresses: Mapped[list["Address"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="Address.id"
    )

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)
        self.session_token = secrets.token_hex(16)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def get_id(self) -> str:  # Flask-Login
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:  # Flask-Login
        return bool(self.is_active_account)

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.STAFF, Role.OWNER)

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}>"


class Address(db.Model):
    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(32))
    province: Mapped[str] = mapped_column(String(80), default="")
    city: Mapped[str] = mapped_column(String(80), default="")
    district: Mapped[str] = mapped_column(String(80), default="")
    line1: Mapped[str] = mapped_column(String(255))
    postcode: Mapped[str] = mapped_column(String(16), default="")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[User] = relationship(back_populates="addresses")

    def one_line(self) -> str:
        parts = [self.province, self.city, self.district, self.line1, self.postcode]
        return ", ".join(p for p in parts if p)


class ApiToken(db.Model):
    """Bearer tokens for the JSON API; only a SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at = mapped_column(UTCDateTime, default=utcnow)
    expires_at = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[User] = relationship()
