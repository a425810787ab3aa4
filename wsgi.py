"""Run the demo shop: ``python wsgi.py`` (or ``gunicorn wsgi:app`` in production).

On first start it migrates the SQLite database in ``instance/``, seeds a demo
shop and prints the demo logins.
"""
from __future__ import annotations

import logging
import os

from storefront import create_app

app = create_app()


def main() -> None:
    from storefront.demo import prepare_demo, start_background_worker

    # The demo's "log" mail backend writes every mail to this logger: show
    # them, so sign-up and password-reset links can be followed without SMTP.
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("storefront.notify").setLevel(logging.INFO)
    with app.app_context():
        prepare_demo(app)
    start_background_worker(app)
    port = int(os.environ.get("PORT", "5000"))
    app.run(host="127.0.0.1", port=port, debug=False, use_reloader=False, threaded=True)


if __name__ == "__main__":
    main()
