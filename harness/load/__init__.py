"""Locust as the harness's load engine.

Locust monkey-patches the whole process with gevent when imported, so nothing in this package
imports it: :mod:`harness.load.runner` starts Locust in child processes, and only the files under
``locustfiles/`` (loaded by those children) import ``locust``.
"""
