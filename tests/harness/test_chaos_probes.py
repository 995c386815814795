"""Probes against a real stub over HTTP: expectations, fallback marking, value readings."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from harness.probes import dig, probe_once
from harness.scenario import Probe
from stubs.platform import Platform


@pytest.fixture(scope="module")
def users() -> Iterator[dict[str, str]]:
    with Platform(services=["user-service"]) as platform:
        yield {"gateway": platform.urls["user-service"]}


def probe(**data: object) -> Probe:
    return Probe.model_validate(data)


def test_dig_follows_dots_and_indexes() -> None:
    data = {"a": {"b": [{"c": 1}, {"c": 2}]}}
    assert dig(data, "a.b[1].c") == 2 and dig(data, "$.a.b[0]") == {"c": 1}
    with pytest.raises(LookupError, match="'x'"):
        dig(data, "a.x")


def test_http_probe_checks_status_body_and_json(users: dict[str, str]) -> None:
    with httpx.Client() as client:
        body = client.get(users["gateway"] + "/users/9").json()
        key = next(k for k, v in body.items() if isinstance(v, str))
        good = probe(http={"path": "/users/9"}, expect={"status": 200, "json": {key: body[key]}})
        reading = probe_once("u", good, users, client, t=1.5)
        assert reading.ok and reading.sample is not None
        assert reading.sample.t == 1.5 and reading.sample.status == 200 and not reading.sample.fallback
        wrong = probe(http={"path": "/users/9"}, expect={"json": {key: "nope"}, "body_contains": "zzz"})
        reading = probe_once("u", wrong, users, client, t=0)
        assert not reading.ok and f"{key} = " in reading.detail and "body lacks 'zzz'" in reading.detail
        missing = probe_once("u", probe(http={"path": "/nope"}), users, client, t=0)
        assert not missing.ok and missing.detail.startswith("404")


def test_unreachable_service_is_a_failed_sample_not_an_exception() -> None:
    with httpx.Client() as client:
        reading = probe_once("u", probe(http={"url": "http://127.0.0.1:9/x", "timeout": 1}), {}, client, t=0)
    assert not reading.ok and reading.sample is not None and reading.sample.status is None


def test_value_probes_read_and_check(users: dict[str, str]) -> None:
    with httpx.Client() as client:
        no_breakers = probe_once("b", probe(breaker={"name": "x", "path": "/users/1"}), users, client, t=0)
        assert not no_breakers.ok and "no breaker 'x'" in no_breakers.detail
        unknown_service = probe_once("d", probe(dlq={}), users, client, t=0)
        assert not unknown_service.ok and "not running" in unknown_service.detail
