"""The cart's coupon choice is written in one UPDATE ... RETURNING (services.write_choice):
every other key of ``Cart.data`` survives, whatever the column held, and under concurrent writers."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text, update

from plugins.coupons.services import DATA_KEY, write_choice
from storefront.cart.models import Cart
from storefront.database import write_transaction
from storefront.extensions import db
from tests.factories import make_user

CHOICE = {"coupon_id": 7, "code": "SALE-双11", "code_id": None}


def _cart(data) -> int:
    cart = Cart(user_id=make_user().id, data=data)
    db.session.add(cart)
    db.session.commit()
    return cart.id


def _stored(cart_id: int):
    db.session.commit()  # a fresh snapshot
    return db.session.execute(select(Cart.data).where(Cart.id == cart_id)).scalar_one()


def _write(cart_id: int, value):
    with write_transaction():
        return write_choice(cart_id, value)


def test_sets_and_drops_the_choice_keeping_every_other_key(app):
    cart_id = _cart({"delivery_code": "pickup", "other_plugin": {"slot": [1, 2]}})
    written = _write(cart_id, CHOICE)
    assert written == _stored(cart_id) == {"delivery_code": "pickup", "other_plugin": {"slot": [1, 2]},
                                           DATA_KEY: CHOICE}
    replaced = _write(cart_id, {"none": True})
    assert replaced[DATA_KEY] == {"none": True} and replaced["delivery_code"] == "pickup"
    dropped = _write(cart_id, None)
    assert dropped == _stored(cart_id) == {"delivery_code": "pickup", "other_plugin": {"slot": [1, 2]}}


@pytest.mark.parametrize("held", [None, {}, [1, 2], "text"], ids=["null", "empty", "array", "string"])
def test_a_column_holding_no_object_starts_from_an_empty_one(app, held):
    cart_id = _cart({})
    db.session.execute(update(Cart).where(Cart.id == cart_id).values(data=held))
    db.session.commit()
    assert _write(cart_id, CHOICE) == _stored(cart_id) == {DATA_KEY: CHOICE}
    assert _write(cart_id, None) == _stored(cart_id) == {}


def test_a_missing_cart_writes_nothing(app):
    assert _write(10**9, CHOICE) == {}
    assert db.session.execute(select(Cart.id)).all() == []


def test_keys_written_concurrently_by_others_survive(app):
    """Threads set the choice while others add their own keys (a locked read and write, as
    another plugin may do): every key written is there at the end."""
    cart_id = _cart({})
    errors: list[BaseException] = []
    locked_read = (select(Cart.data).where(Cart.id == cart_id).with_for_update()
                   if db.engine.dialect.name == "postgresql" else select(Cart.data).where(Cart.id == cart_id))

    def other_plugin(n: int):
        try:
            with app.app_context():
                for round_ in range(5):
                    with write_transaction():
                        data = dict(db.session.execute(locked_read).scalar_one() or {})
                        data[f"other_{n}_{round_}"] = True
                        db.session.execute(update(Cart).where(Cart.id == cart_id).values(data=data))
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    def coupons(n: int):
        try:
            with app.app_context():
                for round_ in range(5):
                    with write_transaction():
                        write_choice(cart_id, {"coupon_id": n * 10 + round_})
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=other_plugin, args=(n,)) for n in range(3)]
    threads += [threading.Thread(target=coupons, args=(n,)) for n in range(3)]
    db.session.commit()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    data = _stored(cart_id)
    assert {f"other_{n}_{r}" for n in range(3) for r in range(5)} <= set(data)
    assert data[DATA_KEY]["coupon_id"] in {n * 10 + r for n in range(3) for r in range(5)}
    assert db.session.execute(text("SELECT COUNT(*) FROM carts")).scalar() == 1
