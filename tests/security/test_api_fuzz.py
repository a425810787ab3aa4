"""API fuzzing with schemathesis: every operation of ``/api/v1/openapi.json``,
as a buyer and as staff (bearer tokens), with a bounded number of generated
examples. No 5xx, and every response conforms to the documented schema
(status code, content type, body).

``STOREFRONT_FUZZ_EXAMPLES`` raises the number of examples per operation
(default 4: the whole test stays well under two minutes on a laptop).
"""
from __future__ import annotations

import os
import re

import pytest

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                 status_code_conformance)

from .conftest import new_client

EXAMPLES = int(os.environ.get("STOREFRONT_FUZZ_EXAMPLES", "4"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# Signing out revokes the very token the fuzzer authenticates with; it is
# covered by tests/accounts/test_api_auth.py.
SKIP = {("DELETE", "/api/v1/auth/token")}


def _send(app, case, headers):
    """The generated request through a client with its own app context (see IsolatedClient)."""
    kwargs = case.as_transport_kwargs(headers=headers)
    path = case.formatted_path
    client = new_client(app)
    return client.open(path, method=case.method, headers=kwargs.get("headers"),
                       query_string=kwargs.get("query_string") or kwargs.get("params"),
                       json=kwargs.get("json"), data=kwargs.get("data"))


def test_api_conforms_to_its_schema_under_fuzzing(app, world):
    schema = schemathesis.openapi.from_wsgi(app.config["OPENAPI_URL_PREFIX"] + "/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40, "the OpenAPI document lists too few operations"
    failures = []
    for role in ("buyer", "owner"):
        headers = world.tokens[role]
        for operation in operations:
            if (operation.method.upper(), operation.path) in SKIP:
                continue

            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy())
            def run(case):
                response = _send(app, case, headers)
                case.validate_response(response, checks=CHECKS, headers=headers)

            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:  # one line per broken operation, not just the first
                label = f"{role} {operation.method.upper()} {operation.path}"
                lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
                failures.append(f"{label}: " + " | ".join(lines[:4]))
    assert not failures, "\n".join(failures)


def test_api_timestamps_carry_a_timezone(app, world):
    r = new_client(app).get("/api/v1/orders", headers=world.tokens["buyer"])
    placed = r.get_json()["orders"][0]["placed_at"]
    assert placed.endswith("Z") or re.search(r"[+-]\d\d:\d\d$", placed), placed
