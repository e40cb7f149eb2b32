"""Paths and methods Cortex does not serve, answered in the error shape OpenAI clients read.

Clients probe more of OpenAI's surface than a gateway serves (``/v1/completions``,
``/v1/responses``, ``/v1/audio/speech``, ``/v1/files``, ...). A bare "Not Found" leaves their
user guessing whether the base URL is wrong; the 404 here (``unsupported_endpoint`` under
``/v1/``, ``not_found`` elsewhere) says the endpoint is not supported by Cortex and lists the
client endpoints that are, generated from the endpoint table so the list stays true as rows
are added. A served path asked with another method is a 405 naming the methods it takes,
with ``Allow``.

The request's door (:mod:`cortex.http.door`) asks for :func:`refusal` after client
authentication, so an unknown ``/v1/`` path still needs a gateway key when keys are
configured (it is a client path, routed or not).
"""

from __future__ import annotations

from aiohttp import web

from cortex.errors import GatewayError, MethodNotAllowed, UnsupportedEndpoint
from cortex.http.endpoints import ENDPOINTS, Access

CLIENT_PREFIX = "/v1/"


def served_client_endpoints() -> list[str]:
    """``METHOD /path`` of every client endpoint of the table, in table order."""
    return [f"{e.method} {e.path}" for e in ENDPOINTS if e.access is Access.CLIENT]


def unsupported(method: str, path: str) -> UnsupportedEndpoint:
    """The 404 for ``method path``, naming every client endpoint Cortex serves."""
    served = ", ".join(served_client_endpoints())
    if path.startswith(CLIENT_PREFIX):
        return UnsupportedEndpoint(
            f"{method} {path} is not supported by Cortex; the client endpoints it serves"
            f" are: {served} (GET /openapi.json describes every endpoint)",
            code="unsupported_endpoint",
        )
    return UnsupportedEndpoint(
        f"no endpoint at {path}; the client endpoints Cortex serves are: {served}"
        " (GET /openapi.json describes every endpoint)",
        code="not_found",
    )


def refusal(request: web.Request) -> GatewayError | None:
    """The JSON error for the router's bare 404 or 405, saying what is served; else None."""
    refused = request.match_info.http_exception
    if isinstance(refused, web.HTTPMethodNotAllowed):
        return MethodNotAllowed(request.method, request.path, refused.allowed_methods)
    if isinstance(refused, web.HTTPNotFound):
        return unsupported(request.method, request.path)
    return None
