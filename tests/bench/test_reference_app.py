"""Reference (b) must cost what a minimal Flask page costs: its template is
compiled once, not per request (render_template_string would compile it on
every call and inflate (b), and every ratio read against it)."""
from __future__ import annotations

from bench.reference_app import create_reference_app, create_tables


def test_reference_product_page_compiles_its_template_once(tmp_path):
    uri = f"sqlite:///{tmp_path / 'ref.db'}"
    create_tables(uri)
    app = create_reference_app(uri)
    client = app.test_client()
    compiled = []
    original = app.jinja_env.compile
    app.jinja_env.compile = lambda *a, **k: compiled.append(a) or original(*a, **k)
    for product_id in (1, 2, 3):
        response = client.get(f"/products/{product_id}")
        assert response.status_code == 200
        assert f"Reference product {product_id}" in response.get_data(as_text=True)
    assert len(compiled) == 1
    assert client.get("/products/100000").status_code == 404
