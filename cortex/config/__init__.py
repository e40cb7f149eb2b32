"""Configuration: settings from the environment and TOML, routes, the checks that
name every problem, and the runtime state reloads swap."""
