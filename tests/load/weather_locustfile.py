"""A one-route locustfile for the weather stub (used by the load tests and the load benchmark)."""

import os

from locust import HttpUser, constant_throughput, task


class WeatherUser(HttpUser):
    wait_time = constant_throughput(float(os.environ.get("HARNESS_RATE_PER_USER", "1")))

    @task
    def weather(self) -> None:
        self.client.get("/weather/berlin", name="/weather/{location}")
