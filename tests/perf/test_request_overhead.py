"""The fixed per-request work stays correct after it was made cheaper (issue 9).

Statements built once per process (plugin states, one product, its images,
presale campaigns, the bearer token) still answer with this request's values;
the templates' translations, remembered per locale within a request, follow
``force_locale`` and a language switch; an error page translates only the
message it shows.
"""
from __future__ import annotations

from datetime import timedelta

from flask import render_template_string
from flask_babel import force_locale, refresh
from sqlalchemy import text

from storefront.catalog import queries
from storefront.catalog.models import ProductImage
from storefront.clock import utcnow
from storefront.extensions import db
from storefront.plugins.host import _states_query
from storefront.settings import set_settings
from tests.checkout.helpers import api_token
from tests.conftest import new_client
from tests.factories import make_product, make_user

from .conftest import count_queries


# -- statements built once ---------------------------------------------------------------------

def test_states_statement_is_built_once_and_still_sees_every_change(app, shop):
    assert _states_query(True) is _states_query(True) and _states_query(False) is _states_query(False)
    client = new_client(app)
    assert client.get("/p/coupons/wallet").status_code in (200, 302)
    db.session.execute(text("UPDATE plugin_states SET enabled = :off WHERE name = 'coupons'"), {"off": False})
    db.session.commit()
    assert client.get("/p/coupons/wallet").status_code == 404  # the next request, same statement object
    set_settings({"shop_name": "Elsewhere"})
    db.session.commit()
    assert "Elsewhere" in client.get("/").get_data(as_text=True)


def test_one_product_statement_answers_per_slug_and_hides_inactive(app, shop):
    (first, first_id), (second, second_id) = [(p.slug, p.id) for p in shop["plain"][:2]]
    with app.test_request_context("/"):
        assert queries.get_product(first).id == first_id
        assert queries.get_product(second).id == second_id
        assert queries.get_product("no-such-product") is None
        assert queries.get_product_by_id(second_id).slug == second
        queries.get_product_by_id(second_id).active = False
        db.session.commit()
    db.session.expunge_all()
    with app.test_request_context("/"):
        assert queries.get_product(second) is None
        assert queries.get_product(second, active_only=False).id == second_id
        assert queries.get_product_by_id(second_id).id == second_id  # staff pages see inactive ones


def test_product_images_load_in_order_in_one_statement(app, shop):
    product = make_product(name="Pictured", price=1000, skus=2)
    pid, slug = product.id, product.slug
    for position, name in [(2, "c"), (0, "a"), (1, "b")]:
        db.session.add(ProductImage(product_id=pid, filename=f"{name}{pid}.webp", width=10,
                                    height=10, alt=name, position=position))
    db.session.commit()
    db.session.expunge_all()
    with app.test_request_context("/"):
        with count_queries() as seen:
            found = queries.get_product(slug)
            assert [img.alt for img in found.images] == ["a", "b", "c"]
            assert found.cover.alt == "a" and len(found.skus) == 2
        assert len(seen.matching(r"FROM product_images")) == 1
        with count_queries() as again:  # already loaded in this session: kept, not read again
            assert [img.alt for img in queries.get_product(slug).images] == ["a", "b", "c"]
        assert not again.matching(r"FROM product_images")
    db.session.expunge_all()
    body = new_client(app).get(f"/products/{slug}").get_data(as_text=True)
    assert body.index(f"a{pid}.webp") < body.index(f"b{pid}.webp") < body.index(f"c{pid}.webp")


def test_presale_statement_follows_now_and_the_skus_asked(app, shop):
    from plugins.presale.lookup import campaign_for_sku, campaigns_for_skus

    presale = shop["presale"]
    on, off = presale.skus[0].id, presale.skus[2].id
    with app.test_request_context("/"):
        found = campaigns_for_skus([on, off])
        assert set(found) == {on}
        assert campaign_for_sku(on, fresh=True) is not None
        assert campaign_for_sku(off, fresh=True) is None
        later = utcnow() + timedelta(days=8)  # after the campaign ends
        assert campaigns_for_skus([on], later) == {}
        assert campaign_for_sku(on, later, fresh=True) is None


def test_bearer_token_statement_tells_tokens_apart(app, shop):
    client = new_client(app)
    alice, bob = make_user(), make_user()
    a, b = api_token(alice), api_token(bob)
    assert client.get("/api/v1/me", headers=a).get_json()["id"] == alice.id
    assert client.get("/api/v1/me", headers=b).get_json()["id"] == bob.id
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer nope"}).status_code == 401
    bob.is_active_account = False
    db.session.commit()
    assert client.get("/api/v1/me", headers=b).status_code == 401


# -- translations in templates -----------------------------------------------------------------

def test_template_translations_follow_force_locale_and_refresh(app):
    template = "{{ _('Sign in') }}"
    with app.test_request_context("/?lang=zh_Hans"):
        chinese = render_template_string(template)
        assert chinese != "Sign in"
        with force_locale("en"):
            assert render_template_string(template) == "Sign in"
            with force_locale("vi"):
                vietnamese = render_template_string(template)
            assert render_template_string(template) == "Sign in"
        assert render_template_string(template) == chinese
        assert vietnamese not in ("Sign in", chinese)
    with app.test_request_context("/?lang=vi"):
        refresh()
        assert render_template_string(template) == vietnamese


def test_pages_in_a_row_keep_each_request_language(app):
    client = new_client(app)
    english = client.get("/?lang=en").get_data(as_text=True)
    chinese = client.get("/?lang=zh_Hans").get_data(as_text=True)
    assert 'lang="en"' in english and ">Sign in<" in english
    assert 'lang="zh-Hans"' in chinese and ">Sign in<" not in chinese
    assert ">Sign in<" in client.get("/?lang=en").get_data(as_text=True)


def test_error_page_message_per_code_and_locale(app):
    client = new_client(app)
    assert "We could not find that page." in client.get("/no-such-page?lang=en").get_data(as_text=True)
    chinese = client.get("/no-such-page?lang=zh_Hans").get_data(as_text=True)
    assert "We could not find that page." not in chinese
    assert client.get("/api/v1/no-such-thing").get_json()["error"]["code"] == "not_found"
    with app.test_request_context("/"):
        from storefront.web import _error_message

        assert _error_message(403) == "You do not have access to this page."
        assert _error_message(418) == "Something went wrong."
        with force_locale("zh_Hans"):
            assert _error_message(404) != "We could not find that page."


def test_cached_gettext_matches_flask_babel(app):
    from flask_babel import gettext as babel_gettext

    from storefront.i18n import gettext

    assert gettext("In stock") == "In stock"  # outside any request: untranslated, as Flask-Babel
    for lang in ("en", "zh_Hans", "vi"):
        with app.test_request_context(f"/?lang={lang}"):
            assert gettext("In stock") == babel_gettext("In stock")
            assert gettext("Only %(n)d left", n=3) == babel_gettext("Only %(n)d left", n=3)
            with force_locale("zh_Hans" if lang != "zh_Hans" else "en"):
                assert gettext("Sold out") == babel_gettext("Sold out") != ""
            assert gettext("Sold out") == babel_gettext("Sold out")
