"""Project-wide test settings: Hypothesis profiles (``ci`` runs more examples than ``dev``), pytester."""

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["pytester"]  # the pytest-plugin tests drive pytest in-process

settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile("ci", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")
