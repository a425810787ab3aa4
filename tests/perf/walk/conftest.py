"""The attack suite's shop (demo data, every plugin enabled, owner, staff and two buyers),
reused by the statement walker with enough rows on every list for an N+1 to show."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from storefront.extensions import db
from tests.security.conftest import _sec_app, app, world  # noqa: F401  (fixtures)

GENERATED_ORDERS = 120
BUYERS_SHARE = 40  # generated orders (and their after-sales requests) handed to the demo buyer


@pytest.fixture
def crowded_world(app, world):  # noqa: F811
    """The demo world plus ``bench-data``'s generator (orders with refunds, notes, parcels,
    pickups and after-sales requests); the demo buyer owns some of them, so the buyer's own
    lists are long too."""
    from storefront.benchdata import GeneratorConfig, generate

    db.session.commit()
    first = db.session.execute(text("SELECT coalesce(max(id), 0) FROM orders")).scalar()
    db.session.commit()  # the generator writes on its own connection
    generate(GeneratorConfig(orders=GENERATED_ORDERS, buyers=10, products=12, seed=5), db.engine, db.metadata,
             log=lambda *_: None)
    buyer_id = world.buyer.id
    mine = {"buyer": buyer_id, "first": first, "last": first + BUYERS_SHARE}
    db.session.execute(text("UPDATE orders SET user_id = :buyer WHERE id > :first AND id <= :last"), mine)
    db.session.execute(text("UPDATE aftersales_cases SET user_id = :buyer WHERE order_id > :first "
                            "AND order_id <= :last"), mine)
    db.session.commit()
    return world
