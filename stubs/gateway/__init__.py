"""The gateway (system under test): forecasts, profiles and jobs over the stub upstreams, each call
through a resilience policy built from a per-service config file.

Run it in-process with :func:`stubs.gateway.app.create_app` and :class:`stubs.server.StubServer`, or
as its own process (what load tests need, so it does not share the GIL with the load generator)::

    python -m stubs.gateway --port 18080 --upstream weather-service=http://127.0.0.1:18082
"""
