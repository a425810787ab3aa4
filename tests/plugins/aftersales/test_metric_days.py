"""The metrics' daily roll-up: the sweep stores past days, views aggregate only today live."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from plugins.aftersales import metric_days, metrics
from plugins.aftersales.money_models import MetricDay
from storefront.extensions import db
from tests.plugins.aftersales.conftest import client_for
from tests.plugins.aftersales.test_money_metrics import DAY_A, DAY_B, NOW, data  # noqa: F401 (fixture)


def _fill(now=NOW, minutes=5) -> int:
    written = 0
    while True:
        step = metric_days.refresh(now, minutes)
        written += step
        if step == 0 or written > 500:
            return written


def _rows() -> int:
    db.session.rollback()
    return db.session.execute(select(func.count()).select_from(MetricDay)).scalar()


def test_stored_days_give_the_same_figures_as_live(app, data):
    assert _fill() == metric_days.HORIZON_DAYS - 1  # every past day of the horizon, never today
    assert _rows() == metric_days.HORIZON_DAYS - 1
    assert db.session.get(MetricDay, DAY_B) is None and db.session.get(MetricDay, DAY_A) is not None
    for days in (1, 7, 30, 90):
        stored = metrics.report(NOW, days, first_response_minutes=5)
        live = metrics.report(NOW, days, first_response_minutes=5, stored=False)
        assert stored.summary == live.summary and stored.rows == live.rows, days
    # Nothing is stale yet: a second sweep right away writes nothing.
    assert metric_days.refresh(NOW + timedelta(minutes=1), 5) == 0


def test_views_read_the_stored_rows(app, data):
    _fill()
    row = db.session.get(MetricDay, DAY_A)
    figures = dict(row.figures)
    figures["orders_placed"] += 100
    db.session.execute(update(MetricDay).where(MetricDay.day == DAY_A).values(figures=figures))
    db.session.commit()
    assert metrics.report(NOW, 30).rows[DAY_A]["orders_placed"] == 104  # read, not recomputed
    assert metrics.report(NOW, 30, stored=False).rows[DAY_A]["orders_placed"] == 4
    # Stale after STALE_AFTER: the sweep cuts the oldest rows again (a few per run).
    later = NOW + metric_days.STALE_AFTER + timedelta(minutes=1)
    assert metric_days.refresh(later, 5) == metric_days.STALE_PER_SWEEP


def test_rows_cut_with_another_offset_or_target_count_as_missing(app, data):
    _fill()
    db.session.execute(update(MetricDay).where(MetricDay.day == DAY_A).values(utc_offset=0))
    db.session.commit()
    assert metrics.report(NOW, 30).rows[DAY_A]["orders_placed"] == 4  # aggregated live instead
    # Another first-response target: live figures, and the sweep re-cuts every day for it.
    rep = metrics.report(NOW, 30, first_response_minutes=1)
    assert rep.summary == metrics.report(NOW, 30, first_response_minutes=1, stored=False).summary
    assert len(metric_days.days_to_cut(NOW, metrics.utc_offset_minutes(NOW), 60)) == metric_days.MISSING_PER_SWEEP


def test_sweep_hook_keeps_the_roll_up(app, data):
    from storefront.plugins.host import get_host

    results = get_host().hook.sweep(now=NOW + timedelta(minutes=1))
    counts = {k: v for r in results if r for k, v in r.items()}
    assert counts["aftersales_metric_days"] == metric_days.MISSING_PER_SWEEP
    assert _rows() == metric_days.MISSING_PER_SWEEP


def test_pages_use_the_roll_up_and_stay_staff_only(app, data, staff, buyer, monkeypatch):
    import plugins.aftersales.money_admin as money_admin

    _fill()
    monkeypatch.setattr(money_admin, "utcnow", lambda: NOW)
    c = client_for(app, staff)
    html = c.get("/admin/aftersales/money/metrics?days=90").get_data(as_text=True)
    assert "Inspection (arrived to inspected)" in html and "Refund (inspected to refunded)" in html
    csv_text = c.get("/admin/aftersales/money/metrics.csv").get_data(as_text=True)
    header = csv_text.splitlines()[0]
    for name, _a, _b in metrics.SEGMENTS:
        assert f"segment_{name}_avg_seconds" in header
    assert "After-sales, last 30 days" in c.get("/admin/").get_data(as_text=True)
    assert client_for(app, buyer).get("/admin/aftersales/money/metrics").status_code in (302, 403)
