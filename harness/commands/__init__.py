"""CLI commands, one module per concern, each exposing ``register(group)``."""
