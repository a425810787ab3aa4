"""Scale data for benchmarks: ``flask storefront bench-data --orders N``.

Generates a realistic large shop (catalogue, buyers with addresses, N orders
over the last 90 days with lines, payments, timeline events, refunds, notes,
and, where those plugins' tables exist, parcels with tracking events and
store pickups, after-sales cases) with bulk inserts: no ORM object per row. The plugin tables
are written by name when present in the database; the core imports no plugin.
"""
from __future__ import annotations

from .generate import GeneratorConfig, generate, generate_aftersales, generate_with_progress_bar

__all__ = ["GeneratorConfig", "generate", "generate_aftersales", "generate_with_progress_bar"]
