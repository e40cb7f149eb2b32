"""Cortex: a self-hosted AI gateway with failover, key rotation and supervised actors."""

from __future__ import annotations

from cortex.errors import GatewayError
from cortex.gateway import Gateway, start
from cortex.settings import ConfigError, Settings, load_settings

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Gateway",
    "GatewayError",
    "Settings",
    "__version__",
    "load_settings",
    "start",
]
