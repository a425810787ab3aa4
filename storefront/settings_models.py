from __future__ import annotations

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db
from .models_base import JSONType, UTCDateTime, utcnow

#: Rows of the settings table under this prefix are background-job records
#: (storefront.jobs.progress), not settings.
JOB_PREFIX = "job:"


class Setting(db.Model):
    """A shop setting edited by the seller (shop name, fees, deadlines...)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[object] = mapped_column(JSONType)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PluginState(db.Model):
    """Whether the seller enabled a plugin, and its settings.

    Read at the start of every request (one small query), so a change made in
    one worker takes effect in every worker on their next request.
    """

    __tablename__ = "plugin_states"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    settings: Mapped[dict] = mapped_column(JSONType, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
