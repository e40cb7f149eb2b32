"""The endpoint table is the one source of routing, access control, labels and OpenAPI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp import web

from cortex.http.access import needs_gateway_key
from cortex.http.endpoints import ENDPOINTS, Access, add_endpoints, metric_labels
from cortex.http.openapi import document


def served_routes() -> set[tuple[str, str]]:
    app = web.Application()
    add_endpoints(app)
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or re.sub(r"\{(\w+):[^}]*\}", r"{\1}", info.get("formatter", ""))
        found.add((route.method, path))
    return found


def test_every_routed_endpoint_is_a_row_of_the_table_and_every_row_is_routed():
    rows = {(e.method, e.path) for e in ENDPOINTS}
    served = {(method, path) for method, path in served_routes() if method != "HEAD"}
    assert served == rows


def test_the_table_declares_each_path_and_method_once():
    rows = [(e.method, e.path) for e in ENDPOINTS]
    assert len(rows) == len(set(rows))


def test_every_row_is_in_the_openapi_document_with_its_access():
    paths = document(ENDPOINTS)["paths"]
    for endpoint in ENDPOINTS:
        operation = paths[endpoint.path][endpoint.method.lower()]
        security = {name for entry in operation.get("security", []) for name in entry}
        expected = {Access.CLIENT: {"gateway"}, Access.ADMIN: {"admin"}}.get(endpoint.access, set())
        assert security == expected, endpoint.path
        assert str(endpoint.status) in operation["responses"], endpoint.path


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_access_control_follows_each_rows_access_class(endpoint):
    open_monitoring = needs_gateway_key(endpoint.path, protect_monitoring=False)
    protected = needs_gateway_key(endpoint.path, protect_monitoring=True)
    assert open_monitoring is (endpoint.access is Access.CLIENT)
    assert protected is (endpoint.access in (Access.CLIENT, Access.MONITORING))


def test_only_admin_paths_live_under_admin_and_they_have_no_label_of_their_own():
    for endpoint in ENDPOINTS:
        assert endpoint.path.startswith("/admin/") is (endpoint.access is Access.ADMIN)
    assert not [label for label in metric_labels() if label.startswith("/admin")]


def test_the_readme_names_every_endpoint_of_the_table():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()

    missing = [f"{e.method} {e.path}" for e in ENDPOINTS if f"`{e.method} {e.path}`" not in readme]

    assert missing == []
