"""Plain factory functions for tests (no factory library needed)."""
from __future__ import annotations

import itertools

from storefront.accounts.models import Role, User
from storefront.catalog.models import Product, Sku
from storefront.extensions import db

_seq = itertools.count(1)
PASSWORD = "correct horse battery"


def make_user(email: str | None = None, role: Role | str = Role.BUYER, password: str = PASSWORD,
              name: str = "Test Buyer", phone: str = "13800000000") -> User:
    n = next(_seq)
    user = User(email=email or f"user{n}@example.com", name=name, phone=phone, role=Role(role))
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def make_staff(role: Role | str = Role.STAFF, **kwargs) -> User:
    return make_user(role=role, name="Staff", **kwargs)


def make_product(name: str = "T-shirt", price: int = 9900, stock: int = 10, skus: int = 1,
                 active: bool = True, options=None) -> Product:
    n = next(_seq)
    product = Product(slug=f"product-{n}", name=name, description="A product", active=active,
                      option_names=["Colour", "Size"])
    for i in range(skus):
        product.skus.append(Sku(code=f"SKU-{n}-{i}", options=options or ["Black", ["S", "M", "L", "XL"][i % 4]],
                                price=price, stock=stock, position=i))
    db.session.add(product)
    db.session.commit()
    return product


def login(client, user: User, password: str = PASSWORD):
    """Sign ``user`` in through the real login form."""
    response = client.post("/account/login", data={"email": user.email, "password": password},
                           follow_redirects=False)
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    return response
