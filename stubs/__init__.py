"""The built-in platform to break: stub upstreams and the gateway (system under test)."""
