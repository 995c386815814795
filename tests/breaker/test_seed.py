"""The seed design's examples, unchanged except for the import path and a real upstream on
127.0.0.1 standing in for ``http://user-service``."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from resilience import BreakerRegistry, CircuitBreaker, CircuitBreakerError, CircuitState


class _Users(BaseHTTPRequestHandler):
    healthy = True

    def do_GET(self) -> None:
        status = 200 if type(self).healthy else 500
        body = json.dumps({"user_id": self.path.rsplit("/", 1)[-1], "name": "Ada"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def user_service() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Users)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Users.healthy = True
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_seed_integration_example(user_service: str) -> None:
    # --- the seed's example, verbatim apart from the URL ---
    def fallback_get_user(user_id):
        return {"user_id": user_id, "name": "Unknown", "is_fallback": True}

    user_service_circuit = CircuitBreaker(
        failure_threshold=5, recovery_timeout=30, fallback_function=fallback_get_user
    )

    @user_service_circuit
    def get_user(user_id):
        try:
            with urllib.request.urlopen(f"{user_service}/users/{user_id}") as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            raise Exception(f"Failed to get user: {e}") from e

    user = get_user("123")
    # --- end of the seed's example ---
    assert user == {"user_id": "123", "name": "Ada"}

    _Users.healthy = False
    for _ in range(5):
        assert get_user("7")["is_fallback"] is True
    state = user_service_circuit.get_state()
    assert state["state"] == "OPEN" and state["failure_count"] == 5
    assert isinstance(state["last_failure_time"], float)
    _Users.healthy = True
    assert get_user("8")["is_fallback"] is True  # open: the fallback answers without a request
    user_service_circuit.reset()
    assert user_service_circuit.get_state()["state"] == CircuitState.CLOSED.value
    assert get_user("9")["name"] == "Ada"


def test_seed_call_and_error_without_fallback() -> None:
    breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=30)

    def boom():
        raise Exception("nope")

    for _ in range(2):
        with pytest.raises(Exception, match="nope"):
            breaker.call(boom)
    with pytest.raises(CircuitBreakerError):
        breaker.call(boom)
    assert breaker.failure_threshold == 2 and breaker.recovery_timeout == 30
    assert breaker.state == CircuitState.OPEN


def test_seed_kubernetes_config_map_shape() -> None:
    config = json.loads("""
    {
      "services": {
        "user-service": {"failure_threshold": 5, "recovery_timeout": 30},
        "weather-service": {"failure_threshold": 3, "recovery_timeout": 60},
        "prediction-service": {"failure_threshold": 10, "recovery_timeout": 120}
      }
    }""")
    registry = BreakerRegistry.from_config(config)
    weather = registry.breaker("weather-service")
    assert (weather.failure_threshold, weather.recovery_timeout) == (3, 60)
    assert [b.name for b in registry] == ["user-service", "weather-service", "prediction-service"]
