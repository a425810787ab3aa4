"""Locations: validation (field errors), staff CRUD pages and permissions, slot generation edges."""
from __future__ import annotations

from datetime import date, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from plugins.store_pickup import services
from plugins.store_pickup.models import Location
from plugins.store_pickup.slots import day_slots, parse_range, upcoming_slots
from storefront.errors import ValidationFailed
from storefront.extensions import db
from tests.factories import make_user

from .conftest import make_location, sign_in

SH = ZoneInfo("Asia/Shanghai")


def loc(**kw):
    values = {"id": 1, "hours": {str(d): ["09:00", "12:00"] for d in range(7)}, "closed_dates": [],
              "slot_minutes": 60, "prep_minutes": 0}
    values.update(kw)
    return SimpleNamespace(**values)


# -- slot generation (pure) ---------------------------------------------------------------
def test_slots_fit_inside_opening_hours():
    slots = day_slots(loc(slot_minutes=50), date(2026, 11, 23), SH)
    assert [s.local_start.strftime("%H:%M") for s in slots] == ["09:00", "09:50", "10:40"]
    assert slots[-1].local_end.strftime("%H:%M") == "11:30"  # 11:30-12:20 would run past closing


def test_slot_ending_exactly_at_closing_is_offered():
    slots = day_slots(loc(), date(2026, 11, 23), SH)
    assert slots[-1].local_end.strftime("%H:%M") == "12:00" and len(slots) == 3


def test_slots_are_stored_in_utc():
    slot = day_slots(loc(), date(2026, 11, 23), SH)[0]
    assert slot.start == datetime(2026, 11, 23, 1, 0)  # 09:00 Shanghai = 01:00 UTC
    assert slot.key == "1@2026-11-23T09:00"


def test_closed_dates_and_closed_weekdays_have_no_slots():
    assert day_slots(loc(closed_dates=["2026-11-23"]), date(2026, 11, 23), SH) == []
    hours = {str(d): ["09:00", "12:00"] for d in range(6)}  # Sunday closed
    assert day_slots(loc(hours=hours), date(2026, 11, 29), SH) == []
    assert day_slots(loc(hours=hours), date(2026, 11, 28), SH) != []


def test_midnight_closing():
    slots = day_slots(loc(hours={"0": ["22:00", "24:00"]}), date(2026, 11, 23), SH)
    assert [s.local_end.strftime("%d %H:%M") for s in slots] == ["23 23:00", "24 00:00"]


def test_preparation_time_hides_slots_that_start_too_soon():
    now = datetime(2026, 11, 23, 1, 10)  # 09:10 Shanghai
    starts = [s.local_start.strftime("%H:%M") for s in upcoming_slots(loc(prep_minutes=50), now, 1, SH)]
    assert starts == ["10:00", "11:00"]  # 10:00 is exactly now + 50 min
    starts = [s.local_start.strftime("%H:%M") for s in upcoming_slots(loc(prep_minutes=51), now, 1, SH)]
    assert starts == ["11:00"]


def test_after_closing_the_next_days_slots_are_offered():
    now = datetime(2026, 11, 23, 5, 0)  # 13:00 Shanghai, closed for today
    slots = upcoming_slots(loc(), now, 2, SH)
    assert {s.local_start.date() for s in slots} == {date(2026, 11, 24)}


@pytest.mark.parametrize("text", ["9-21", "21:00-09:00", "10:00-10:00", "25:00-26:00", "09:00-24:30", "abc"])
def test_bad_hours_are_refused(text):
    with pytest.raises(ValueError):
        parse_range(text)


# -- validation ---------------------------------------------------------------------------
def test_validation_names_every_bad_field(app):
    with pytest.raises(ValidationFailed) as info:
        services.validate_location({"name": "", "address": "x", "map_url": "javascript:alert(1)",
                                    "phone": "call me", "hours": {"0": "9-5"}, "closed_dates": "2026-13-40",
                                    "prep_minutes": -1, "slot_minutes": "x", "slot_capacity": 0})
    fields = info.value.details["fields"]
    assert set(fields) == {"name", "map_url", "phone", "hours_0", "closed_dates", "prep_minutes",
                           "slot_minutes", "slot_capacity"}
    assert db.session.execute(db.select(Location)).first() is None


@pytest.mark.parametrize("url", ["ftp://example.com/x", "data:text/html,hi", "//example.com", "http:/x"])
def test_map_link_must_be_http(app, url):
    with pytest.raises(ValidationFailed) as info:
        make_location(map_url=url)
    assert info.value.field == "map_url"


def test_create_update_delete(app):
    row = make_location(closed_dates="2026-11-11\n2026-11-11, 2026-12-25")
    assert row.closed_dates == ["2026-11-11", "2026-12-25"]
    services.update_location(row.id, {**_data(row), "name": "Renamed", "active": False})
    assert services.get_location(row.id).name == "Renamed"
    assert services.list_locations(active_only=True) == []
    services.delete_location(row.id)
    assert services.list_locations() == []


def _data(row):
    return {"name": row.name, "address": row.address, "hours": {k: "-".join(v) for k, v in row.hours.items()},
            "prep_minutes": row.prep_minutes, "slot_minutes": row.slot_minutes, "slot_capacity": row.slot_capacity}


# -- staff pages --------------------------------------------------------------------------
FORM = {"name": "Hanoi Hoàn Kiếm store", "address": "25 Tràng Tiền", "city": "Hà Nội", "province": "Hà Nội",
        "phone": "+84 24 3825 0000", "map_url": "https://example.com/m", "hours_0": "08:30-21:00",
        "closed_dates": "", "prep_minutes": "90", "slot_minutes": "30", "slot_capacity": "8", "active": "y"}


def test_staff_creates_and_edits_a_location(app, client, staff, enabled):
    sign_in(client, staff)
    response = client.post("/admin/pickup/locations/new", data=FORM)
    assert response.status_code == 302
    row = db.session.execute(db.select(Location)).scalar_one()
    assert row.hours == {"0": ["08:30", "21:00"]} and row.slot_capacity == 8
    page = client.get(f"/admin/pickup/locations/{row.id}").get_data(as_text=True)
    assert "08:30-21:00" in page
    response = client.post(f"/admin/pickup/locations/{row.id}", data={**FORM, "hours_1": "late"})
    assert response.status_code == 422
    assert "Write opening hours as 09:00-21:00" in response.get_data(as_text=True)


def test_bad_form_shows_field_errors_and_writes_nothing(app, client, staff, enabled):
    sign_in(client, staff)
    response = client.post("/admin/pickup/locations/new", data={**FORM, "map_url": "javascript:alert(1)"})
    assert response.status_code == 422
    assert "A map link starts with https://" in response.get_data(as_text=True)
    assert db.session.execute(db.select(Location)).first() is None


def test_location_pages_need_staff(app, client, enabled):
    assert client.get("/admin/pickup/").status_code == 302  # anonymous: to sign-in
    sign_in(client, make_user())
    assert client.get("/admin/pickup/").status_code == 403
    assert client.post("/admin/pickup/locations/new", data=FORM).status_code == 403


def test_csrf_is_required(app, secure_client, staff, enabled):
    sign_in(secure_client, staff)
    assert secure_client.post("/admin/pickup/locations/new", data=FORM).status_code == 400
    assert db.session.execute(db.select(Location)).first() is None
