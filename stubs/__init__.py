"""The built-in platform to break: stub upstreams and the gateway (system under test).

Find by noun:

- :mod:`stubs.behaviour`: the validated fault model (``PUT /_admin/behaviour``);
- :mod:`stubs.control`: :class:`~stubs.control.StubControl`, the admin API from Python;
- :mod:`stubs.recorder`: what a stub received (per-route counts, a bounded ring of requests);
- :mod:`stubs.services`: the stubs themselves (user, weather, prediction, processing, registry);
- :mod:`stubs.server`: one app on a loopback port in a background thread (port 0 allowed);
- :mod:`stubs.platform`: :class:`~stubs.platform.Platform`, every stub at once;
- :mod:`stubs.gateway`: the system under test, in-process or as a child process.
"""
