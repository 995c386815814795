"""The HTTP API over real sockets, the same tests on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

import httpx
import pytest

from resilience.dlq.schemas import MAX_PAYLOAD_DEPTH
from resilience.dlq.store import NewMessage

from .conftest import API_KEY, FAST, Destination, InProcessServer, free_port, message_body, wait_until

Serve = Callable[..., InProcessServer]


@pytest.fixture
def api(serve: Serve) -> httpx.Client:
    return serve(worker_enabled=False).client()


def test_create_get_list_keep_the_seed_shapes(api: httpx.Client) -> None:
    created = api.post("/messages", json=message_body(1))
    assert created.status_code == 200
    assert set(created.json()) == {"message_id", "status"} and created.json()["status"] == "PENDING"
    message_id = created.json()["message_id"]

    got = api.get(f"/messages/{message_id}").json()
    seed_fields = {
        "message_id",
        "source_queue",
        "destination_service",
        "payload",
        "error_message",
        "created_at",
        "retry_count",
        "last_retry_at",
        "resolved",
        "resolved_at",
        "status",
    }
    assert seed_fields <= set(got)
    assert got["payload"] == {"order_id": 1} and got["resolved"] is False and got["retry_count"] == 0
    assert got["error_type"] == "TimeoutError" and got["attempts"] == []

    listing = api.get("/messages").json()
    assert {"total", "offset", "limit", "messages"} <= set(listing)
    assert listing["total"] == 1 and listing["messages"][0]["message_id"] == message_id


def test_list_filters_and_pages(api: httpx.Client) -> None:
    for n in range(5):
        api.post("/messages", json=message_body(n, source_queue="a" if n % 2 else "b")).raise_for_status()
    api.post("/messages", json=message_body(9, destination_service="shipping")).raise_for_status()
    assert api.get("/messages", params={"source_queue": "a"}).json()["total"] == 2
    assert api.get("/messages", params={"destination_service": "shipping"}).json()["total"] == 1
    page = api.get("/messages", params={"limit": 2, "offset": 2}).json()
    assert page["total"] == 6 and len(page["messages"]) == 2 and page["offset"] == 2
    everything = [m["message_id"] for m in api.get("/messages", params={"limit": 100}).json()["messages"]]
    assert len(set(everything)) == 6
    first = everything[0]
    api.post(f"/messages/{first}/resolve").raise_for_status()
    assert api.get("/messages", params={"resolved": True}).json()["total"] == 1
    assert api.get("/messages", params={"resolved": False}).json()["total"] == 5
    assert api.get("/messages", params={"status": "RESOLVED"}).json()["messages"][0]["message_id"] == first
    assert api.get("/messages", params={"limit": 0}).status_code == 400


def test_an_empty_filter_means_no_filter_as_in_the_seed(api: httpx.Client) -> None:
    """``?source_queue=&destination_service=billing`` (a URL template) matched nothing before."""
    api.post("/messages", json=message_body(1)).raise_for_status()
    api.post("/messages", json=message_body(2, destination_service="shipping")).raise_for_status()
    empty = {"source_queue": "", "destination_service": "billing", "fingerprint": ""}
    listing = api.get("/messages", params=empty).json()
    assert listing["total"] == 1 and listing["messages"][0]["destination_service"] == "billing"
    assert api.get("/messages", params={"source_queue": "", "destination_service": ""}).json()["total"] == 2


def test_every_endpoint_but_the_probes_needs_the_key(serve: Serve) -> None:
    server = serve(worker_enabled=False)
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get("/health").status_code == 200
        assert anonymous.get("/ready").json() == {"status": "ready"}
        for method, path in [
            ("GET", "/messages"),
            ("POST", "/messages"),
            ("GET", "/stats"),
            ("GET", "/metrics"),
            ("POST", "/messages/redrive"),
        ]:
            response = anonymous.request(method, path, json=message_body())
            assert response.status_code == 401, path
            assert response.json()["error"]["code"] == "UNAUTHENTICATED"
        assert anonymous.get("/messages", headers={"X-API-Key": "wrong"}).status_code == 401
        assert anonymous.get("/messages", headers={"X-API-Key": API_KEY}).status_code == 200
        assert anonymous.get("/messages", headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 200


def test_oversized_bodies_get_413_with_or_without_content_length(serve: Serve) -> None:
    api = serve(worker_enabled=False, max_body_bytes=2048).client()
    big = message_body(payload={"blob": "x" * 4096})
    response = api.post("/messages", json=big)
    assert response.status_code == 413 and response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"

    def chunks() -> object:
        yield b'{"blob": "'
        for _ in range(10):
            yield b"y" * 512
        yield b'"}'

    chunked = api.post("/messages", content=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413
    assert api.get("/messages").json()["total"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"source_queue": "q"},
        message_body(extra="field"),
        message_body(source_queue=""),
        message_body(source_queue=5),
        message_body(payload=[1, 2]),
        message_body(error_message="nul \x00 inside"),
        message_body(destination_service="x" * 300),
    ],
)
def test_invalid_bodies_are_400_in_the_error_envelope(api: httpx.Client, body: dict[str, object]) -> None:
    response = api.post("/messages", json=body, headers={"X-Request-ID": "req-123"})
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"]["code"] == "VALIDATION_ERROR" and payload["request_id"] == "req-123"
    assert api.get("/messages").json()["total"] == 0


def test_non_json_and_nan_are_rejected(api: httpx.Client) -> None:
    assert (
        api.post("/messages", content=b"{not json", headers={"Content-Type": "application/json"}).status_code
        == 400
    )
    nan = b'{"source_queue":"q","destination_service":"s","payload":{"x":NaN},"error_message":"e"}'
    assert api.post("/messages", content=nan, headers={"Content-Type": "application/json"}).status_code == 400


def test_a_lone_surrogate_in_the_payload_is_a_400(api: httpx.Client) -> None:
    """It parses as JSON but cannot be encoded again: it was stored, then every read was a 500."""
    body = b'{"source_queue":"q","destination_service":"s","payload":{"s":"\\ud800"},"error_message":"e"}'
    response = api.post("/messages", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["context"]["errors"][0]["pointer"] == "/payload"
    assert api.get("/messages").json()["total"] == 0


def test_payload_nesting_is_bounded_so_every_stored_message_can_be_read(api: httpx.Client) -> None:
    """A payload ~250 levels deep used to be stored and then answered 500 on every read."""

    def nested(levels: int) -> dict[str, object]:
        payload: dict[str, object] = {}
        for _ in range(levels - 1):
            payload = {"a": payload}
        return payload

    deepest = api.post("/messages", json=message_body(payload=nested(MAX_PAYLOAD_DEPTH)))
    assert deepest.status_code == 200
    assert api.get(f"/messages/{deepest.json()['message_id']}").status_code == 200
    for levels in (MAX_PAYLOAD_DEPTH + 1, 250):
        too_deep = api.post("/messages", json=message_body(payload=nested(levels)))
        assert too_deep.status_code == 400
        assert too_deep.json()["error"]["context"]["errors"][0]["pointer"] == "/payload"
    assert api.get("/messages").json()["total"] == 1


def test_a_message_that_cannot_be_delivered_does_not_block_its_round(
    serve: Serve, destination: Destination
) -> None:
    """A poison message (stored before validation caught it) fails alone; the rest are delivered."""
    server = serve(service_map={"billing": destination.url}, worker_interval=0.2)
    poison, good = server.app.state.dlq.store.create_many(
        [
            NewMessage("orders", "billing", {"s": "\ud800"}, "e"),
            NewMessage("orders", "billing", {"order_id": 1}, "e"),
        ]
    )
    api = server.client()
    wait_until(lambda: api.get(f"/messages/{good.message.id}").json()["status"] == "RESOLVED", timeout=10)
    assert destination.deliveries[good.message.id] == 1
    failed = server.app.state.dlq.store.get(poison.message.id)
    assert failed.attempts and "UnicodeEncodeError" in (failed.attempts[0].error or "")


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain"])
def test_a_body_that_is_not_json_is_a_415_naming_the_header(api: httpx.Client, content_type: str) -> None:
    """curl -d sends form encoding; FastAPI alone would answer an unhelpful 'Must be an object'."""
    body = b'{"source_queue":"q","destination_service":"s","payload":{},"error_message":"e"}'
    response = api.post("/messages", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 415
    error = response.json()["error"]
    assert error["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert "Content-Type: application/json" in error["detail"] and content_type in error["detail"]
    # JSON with parameters, a +json type, or no Content-Type at all is accepted; an empty body is no body.
    for headers in (
        {"Content-Type": "application/json; charset=utf-8"},
        {"Content-Type": "application/x+json"},
    ):
        assert api.post("/messages", content=body, headers=headers).status_code == 200
    assert api.post("/messages", content=body).status_code == 200  # httpx sends no Content-Type here
    assert api.get("/messages").json()["total"] == 3


def test_idempotency_key_returns_the_same_message(api: httpx.Client) -> None:
    headers = {"Idempotency-Key": "order-7-final"}
    first = api.post("/messages", json=message_body(7), headers=headers)
    again = api.post("/messages", json=message_body(7), headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json()["message_id"] == again.json()["message_id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert api.get("/messages").json()["total"] == 1
    clash = api.post("/messages", json=message_body(8), headers=headers)
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_batch_create_is_idempotent_per_item(api: httpx.Client) -> None:
    items = [{**message_body(n), "idempotency_key": f"k{n % 3}"} for n in range(3)] + [message_body(9)]
    items.append({**message_body(0), "idempotency_key": "k0"})
    response = api.post("/messages/batch", json={"messages": items})
    assert response.status_code == 200
    out = response.json()["messages"]
    assert [m["created"] for m in out] == [True, True, True, True, False]
    assert out[0]["message_id"] == out[4]["message_id"]
    replay = api.post("/messages/batch", json={"messages": items[:2]}).json()["messages"]
    assert [m["created"] for m in replay] == [False, False]
    assert api.get("/messages").json()["total"] == 4
    assert api.post("/messages/batch", json={"messages": []}).status_code == 400


def test_batch_limit(serve: Serve) -> None:
    api = serve(worker_enabled=False, max_batch=3).client()
    response = api.post("/messages/batch", json={"messages": [message_body(n) for n in range(4)]})
    assert response.status_code == 400 and response.json()["error"]["code"] == "BATCH_TOO_LARGE"


def test_resolve_retry_and_unknown_ids(api: httpx.Client) -> None:
    message_id = api.post("/messages", json=message_body()).json()["message_id"]
    assert api.post(f"/messages/{message_id}/retry").json() == {
        "message_id": message_id,
        "status": "RETRYING",
    }
    resolved = api.post(f"/messages/{message_id}/resolve")
    assert resolved.json() == {"message_id": message_id, "status": "RESOLVED"}
    got = api.get(f"/messages/{message_id}").json()
    assert got["resolved"] is True and got["resolved_at"] is not None
    conflict = api.post(f"/messages/{message_id}/retry")
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "MESSAGE_STATE_CONFLICT"
    for path in ["/messages/not-a-uuid", "/messages/5d9a4a1e-0000-4000-8000-000000000000"]:
        missing = api.get(path)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "MESSAGE_NOT_FOUND"
    assert api.post("/messages/5d9a4a1e-0000-4000-8000-000000000000/resolve").status_code == 404


def test_bulk_redrive_and_resolve_with_dry_run(api: httpx.Client) -> None:
    ids = [
        api.post("/messages", json=message_body(n, source_queue=f"q{n % 2}")).json()["message_id"]
        for n in range(6)
    ]
    dry = api.post("/messages/resolve", json={"source_queue": "q0", "dry_run": True}).json()
    assert dry["dry_run"] is True and dry["matched"] == 3 and set(dry["message_ids"]) == set(ids[0::2])
    assert api.get("/messages", params={"resolved": True}).json()["total"] == 0

    done = api.post("/messages/resolve", json={"source_queue": "q0"}).json()
    assert done["matched"] == 3
    assert api.get("/messages", params={"resolved": True}).json()["total"] == 3

    redrive = api.post("/messages/redrive", json={"status": ["PENDING"], "limit": 2}).json()
    assert redrive["matched"] == 2 and set(redrive["message_ids"]) <= set(ids[1::2])
    statuses = {m["message_id"]: m["status"] for m in api.get("/messages").json()["messages"]}
    assert sorted(statuses.values()) == [
        "PENDING",
        "RESOLVED",
        "RESOLVED",
        "RESOLVED",
        "RETRYING",
        "RETRYING",
    ]
    bad = api.post("/messages/redrive", json={"status": ["RESOLVED"]})
    assert bad.status_code == 400


@pytest.mark.parametrize("action", ["resolve", "redrive"])
def test_bulk_without_a_filter_needs_all_true(api: httpx.Client, action: str) -> None:
    """``{}`` used to resolve (or redrive) up to 1000 messages: the whole queue, by accident."""
    ids = [
        api.post("/messages", json=message_body(n, source_queue=f"q{n % 2}")).json()["message_id"]
        for n in range(4)
    ]
    for body in [{}, {"dry_run": True}, {"limit": 2}, {"all": False}]:
        refused = api.post(f"/messages/{action}", json=body)
        assert refused.status_code == 400, body
        error = refused.json()["error"]
        assert error["code"] == "FILTER_REQUIRED" and refused.json()["request_id"]
        assert f"bulk {action} needs at least one filter" in error["detail"]
        assert "source_queue" in error["detail"] and '"all": true' in error["detail"]
    both = api.post(f"/messages/{action}", json={"all": True, "source_queue": "q0"})
    assert both.status_code == 400 and both.json()["error"]["code"] == "FILTER_REQUIRED"
    assert "(source_queue)" in both.json()["error"]["detail"]
    assert api.post(f"/messages/{action}", json={"all": "yes"}).json()["error"]["code"] == "VALIDATION_ERROR"
    statuses = [m["status"] for m in api.get("/messages").json()["messages"]]
    assert statuses == ["PENDING"] * 4  # nothing moved

    preview = api.post(f"/messages/{action}", json={"all": True, "dry_run": True}).json()
    assert preview["dry_run"] is True and set(preview["message_ids"]) == set(ids)
    assert api.get("/messages", params={"status": "PENDING"}).json()["total"] == 4
    moved = api.post(f"/messages/{action}", json={"all": True, "limit": 3}).json()
    assert moved["matched"] == 3 and moved["message_ids"] == ids[:3]  # the oldest first
    after = "RESOLVED" if action == "resolve" else "RETRYING"
    assert api.get("/messages", params={"status": after}).json()["total"] == 3
    # One filter is enough, as before.
    assert api.post(f"/messages/{action}", json={"status": ["PENDING"]}).json()["message_ids"] == ids[3:]


def test_stats_group_by_fingerprint(api: httpx.Client) -> None:
    for n in range(4):
        api.post("/messages", json=message_body(n, error_message=f"KeyError: 'user-{n}' missing in row {n}"))
    api.post("/messages", json=message_body(9, destination_service="shipping", error_message="boom"))
    stats = api.get("/stats").json()
    assert stats["depth_by_status"]["PENDING"] == 5 and stats["unresolved"] == 5
    assert stats["depth_by_service"] == {"billing": 4, "shipping": 1}
    top = stats["groups"][0]
    assert top["message_count"] == 4 and top["depth"] == 4 and top["error_type"] == "KeyError"
    assert "<str>" in top["normalized_message"] and "<num>" in top["normalized_message"]
    assert stats["oldest_unresolved_age_seconds"] >= 0
    only_group = api.get("/messages", params={"fingerprint": top["fingerprint"]}).json()
    assert only_group["total"] == 4


def test_ready_and_metrics(api: httpx.Client) -> None:
    assert api.get("/ready").json() == {"status": "ready"}
    api.post("/messages", json=message_body()).raise_for_status()
    text = api.get("/metrics").text
    assert "resilience_dlq_messages_created_total 1.0" in text
    assert 'resilience_dlq_depth{status="PENDING"} 1.0' in text


def test_worker_redelivers_and_resolves(serve: Serve, destination: Destination) -> None:
    api = serve(service_map={"billing": destination.url}).client()
    ids = [api.post("/messages", json=message_body(n)).json()["message_id"] for n in range(5)]
    wait_until(lambda: api.get("/stats").json()["depth_by_status"]["RESOLVED"] == 5)
    assert all(destination.deliveries[i] == 1 for i in ids)
    delivered = {b["id"]: b for b in destination.bodies}
    assert delivered[ids[0]]["body"] == {"order_id": 0} and delivered[ids[0]]["path"] == "/messages"
    got = api.get(f"/messages/{ids[0]}").json()
    assert got["status"] == "RESOLVED" and got["retry_count"] == 1
    assert [a["outcome"] for a in got["attempts"]] == ["SUCCESS"] and got["attempts"][0]["status_code"] == 200
    assert 'resilience_dlq_redeliveries_total{outcome="success"} 5.0' in api.get("/metrics").text


def test_failing_destination_ends_failed_with_every_attempt_recorded(
    serve: Serve, destination: Destination
) -> None:
    destination.status = lambda _id: 503
    api = serve(service_map={"billing": destination.url}, max_attempts=3, delivery_attempts=1).client()
    message_id = api.post("/messages", json=message_body()).json()["message_id"]
    wait_until(lambda: api.get(f"/messages/{message_id}").json()["status"] == "FAILED")
    got = api.get(f"/messages/{message_id}").json()
    assert got["retry_count"] == 3 and got["next_attempt_at"] is None
    assert [(a["outcome"], a["status_code"]) for a in got["attempts"]] == [("FAILURE", 503)] * 3
    assert "503" in got["last_error"]
    assert api.get("/stats").json()["groups"][0]["redelivery_failures"] == 3
    assert "resilience_dlq_failures_total 1.0" in api.get("/metrics").text

    destination.status = lambda _id: 200
    assert api.post(f"/messages/{message_id}/retry").json()["status"] == "RETRYING"
    wait_until(lambda: api.get(f"/messages/{message_id}").json()["status"] == "RESOLVED")
    assert destination.deliveries[message_id] == 1


def test_retry_policy_retries_within_one_redelivery(serve: Serve, destination: Destination) -> None:
    calls: list[str] = []

    def flaky(message_id: str) -> int:
        calls.append(message_id)
        return 500 if len(calls) == 1 else 200

    destination.status = flaky
    api = serve(service_map={"billing": destination.url}, delivery_attempts=2).client()
    message_id = api.post("/messages", json=message_body()).json()["message_id"]
    wait_until(lambda: api.get(f"/messages/{message_id}").json()["status"] == "RESOLVED")
    got = api.get(f"/messages/{message_id}").json()
    assert len(calls) == 2 and [a["outcome"] for a in got["attempts"]] == ["SUCCESS"]


def test_catalog_discovery_and_unknown_service(serve: Serve, destination: Destination) -> None:
    destination.catalog["billing"] = [
        {"Address": "10.255.255.1", "ServiceAddress": "127.0.0.1", "ServicePort": destination.port}
    ]
    api = serve(registry_url=destination.url, max_attempts=1).client()
    found = api.post("/messages", json=message_body()).json()["message_id"]
    lost = api.post("/messages", json=message_body(destination_service="nowhere")).json()["message_id"]
    wait_until(lambda: api.get(f"/messages/{found}").json()["status"] == "RESOLVED")
    wait_until(lambda: api.get(f"/messages/{lost}").json()["status"] == "FAILED")
    assert "no instance of 'nowhere'" in api.get(f"/messages/{lost}").json()["attempts"][0]["error"]


def test_alert_webhook_fires_once_per_debounce(serve: Serve, destination: Destination) -> None:
    api = serve(
        worker_enabled=True, alert_depth=3, alert_debounce=3600, alert_webhook_url=f"{destination.url}/alerts"
    ).client()
    api.post("/messages/batch", json={"messages": [message_body(n) for n in range(3)]}).raise_for_status()
    wait_until(lambda: len(destination.alerts) >= 1)
    api.post("/messages", json=message_body(4)).raise_for_status()
    wait_until(lambda: 'resilience_dlq_alerts_total{kind="depth"} 1.0' in api.get("/metrics").text)
    assert destination.alerts[0]["kind"] == "depth" and destination.alerts[0]["value"] >= 3
    assert len(destination.alerts) == 1


def test_database_down_is_503_and_health_stays_up() -> None:
    dead = f"postgresql+psycopg://nobody:secret@127.0.0.1:{free_port()}/none?connect_timeout=2"
    settings = replace(FAST, database_url=dead, migrate_on_startup=False, worker_enabled=False)
    with InProcessServer(settings) as server:
        api = server.client()
        assert api.get("/health").status_code == 200
        ready = api.get("/ready")
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "DATABASE_UNAVAILABLE"
        created = api.post("/messages", json=message_body())
        assert created.status_code == 503 and created.json()["error"]["code"] == "DATABASE_UNAVAILABLE"
        assert "secret" not in created.text


def test_redrive_rate_limit_paces_deliveries(serve: Serve, destination: Destination) -> None:
    api = serve(service_map={"billing": destination.url}, redrive_rate=4.0, initial_delay=0.5).client()
    api.post("/messages/batch", json={"messages": [message_body(n) for n in range(8)]}).raise_for_status()
    wait_until(lambda: api.get("/stats").json()["depth_by_status"]["RESOLVED"] == 8)
    times = sorted(b["at"] for b in destination.bodies)
    # A burst of 4, then one every 0.25 s: the last of 8 comes at least ~1 s after the first.
    assert times[-1] - times[0] >= 0.9


def test_concurrent_creates_with_one_idempotency_key_store_one_message(serve: Serve) -> None:
    server = serve(worker_enabled=False)
    barrier = threading.Barrier(8)
    ids: list[str] = []

    def create() -> None:
        with server.client() as client:
            barrier.wait()
            response = client.post("/messages", json=message_body(1), headers={"Idempotency-Key": "race"})
            ids.append(response.json()["message_id"])

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(ids) == 8 and len(set(ids)) == 1
    assert server.client().get("/messages").json()["total"] == 1


def test_nul_in_a_query_filter_is_a_400(api: httpx.Client) -> None:
    response = api.get("/messages", params={"source_queue": "a\x00b"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR"
