"""Locustfiles loaded by Locust child processes only (they import ``locust``)."""
