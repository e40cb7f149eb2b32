"""Cortex: a self-hosted AI gateway with failover, key rotation and supervised actors."""

from __future__ import annotations

from cortex.config.settings import ConfigError, Settings, load_settings
from cortex.errors import GatewayError
from cortex.ops.gateway import Gateway, start

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
