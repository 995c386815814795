"""Load for the built-in gateway (system under test), with the weights of a forecasting front end.

Usable on its own: ``locust -f harness/load/locustfiles/gateway.py --host http://127.0.0.1:8000``.
Each user aims for ``HARNESS_RATE_PER_USER`` requests per second (default 1).
"""

from __future__ import annotations

import os
import random

from locust import HttpUser, constant_throughput, task

REGIONS = ("north", "south", "east", "west")


class GatewayUser(HttpUser):
    """A client of the forecasting gateway: mostly forecasts, some profiles, a few jobs."""

    wait_time = constant_throughput(float(os.environ.get("HARNESS_RATE_PER_USER", "1")))

    @task(6)
    def forecast(self) -> None:
        self.client.get(f"/forecast/{random.choice(REGIONS)}", name="/forecast/{region}")

    @task(3)
    def user_profile(self) -> None:
        self.client.get(f"/users/{random.randint(1, 50)}", name="/users/{id}")

    @task(1)
    def submit_job(self) -> None:
        self.client.post("/jobs", json={"kind": "recompute", "region": random.choice(REGIONS)}, name="/jobs")
