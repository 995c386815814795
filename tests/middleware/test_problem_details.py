"""RFC 9457 problem details: chosen by Accept or by configuration, same codes as the envelope."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

from resilience.middleware import add_error_handlers

from ._app import make_app
from .conftest import Call, call_app

PROBLEM = "application/problem+json"


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["type"], str)
    assert body["request_id"] == response.headers["x-request-id"]
    return body


@pytest.mark.parametrize(
    ("accept", "problem"),
    [
        (PROBLEM, True),
        (f"{PROBLEM}, application/json;q=0.5", True),
        (f"application/json, {PROBLEM};q=0.9", False),
        (f"application/json;q=0.8, {PROBLEM}", True),
        ("application/json", False),
        ("*/*", False),
        (f"{PROBLEM};q=0", False),
        (f"{PROBLEM};q=bogus", False),
    ],
)
def test_accept_header_picks_the_format(demo: Call, accept: str, problem: bool) -> None:
    response = demo("GET", "/items/404", headers={"accept": accept})
    expected = PROBLEM if problem else "application/json"
    assert response.headers["content-type"] == expected
    assert response.json()["code" if problem else "error"]


def test_problem_members_for_an_http_error(demo: Call) -> None:
    response = demo("GET", "/items/404", headers={"accept": PROBLEM})
    body = assert_problem(response, 404, "HTTP_404")
    assert body == {
        "type": "about:blank",
        "title": "Not found.",
        "status": 404,
        "detail": "Item 404 does not exist",
        "instance": "/items/404",
        "code": "HTTP_404",
        "request_id": response.headers["x-request-id"],
    }


def test_problem_validation_lists_json_pointers(demo: Call) -> None:
    response = demo("POST", "/orders", json={"item": "x", "quantity": 101}, headers={"accept": PROBLEM})
    body = assert_problem(response, 400, "VALIDATION_ERROR")
    assert body["errors"] == [
        {
            "in": "body",
            "pointer": "/quantity",
            "type": "less_than_equal",
            "message": "Must be less than or equal to 100.",
        }
    ]


def test_problem_for_open_breaker_carries_retry_after(demo: Call) -> None:
    response = demo("GET", "/breaker", headers={"accept": PROBLEM})
    body = assert_problem(response, 503, "CIRCUIT_OPEN")
    assert response.headers["retry-after"] == "3"
    assert body["retry_after"] == 3 and body["retryable"] is True
    assert body["category"] == "upstream_unavailable"


def test_configured_problem_details_and_type_base() -> None:
    app = make_app(problem_details=True, problem_type_base="https://errors.example.com/")
    response = call_app(app, "GET", "/budget")  # no Accept header at all
    body = assert_problem(response, 503, "RETRY_BUDGET_EXHAUSTED")
    assert body["type"] == "https://errors.example.com/retry-budget-exhausted"
    generic = assert_problem(call_app(app, "GET", "/boom"), 500, "INTERNAL_SERVER_ERROR")
    assert set(generic) == {"type", "title", "status", "instance", "code", "request_id"}


def test_validation_status_can_be_422() -> None:
    app = make_app(validation_status=422)
    response = call_app(app, "POST", "/orders", json={}, headers={"accept": PROBLEM})
    assert_problem(response, 422, "VALIDATION_ERROR")


class _Cat(BaseModel):
    kind: Literal["cat"]
    meows: int


class _Dog(BaseModel):
    kind: Literal["dog"]
    barks: int


class _Line(BaseModel):
    name: str
    quantity: int


class _Basket(BaseModel):
    code: int | str = 0
    pet: Annotated[_Cat | _Dog, Field(discriminator="kind")] | None = None
    shelf: dict[int, str] = {}
    lines: list[_Line] = []
    owner: str


def basket_app() -> FastAPI:
    app = FastAPI()

    @app.post("/baskets")
    async def create(basket: _Basket) -> None:
        return None

    @app.get("/baskets")
    async def find(ids: Annotated[list[int], Query()], limit: int | None = None) -> None:
        return None

    add_error_handlers(app, problem_details=True)
    return app


def test_pointers_address_the_request_not_pydantics_labels() -> None:
    """Union members tried, a tagged union's tag and dict-key checks are not part of the request."""
    sent = {
        "code": [1],
        "pet": {"kind": "cat", "meows": "loud"},
        "shelf": {"top": "jam"},
        "lines": [{"name": "tea", "quantity": 1}, {"quantity": "many"}],
    }
    errors = call_app(basket_app(), "POST", "/baskets", json=sent).json()["errors"]
    assert [(e["pointer"], e["type"]) for e in errors] == [
        ("/code", "int_type"),
        ("/code", "string_type"),
        ("/pet/meows", "int_parsing"),
        ("/shelf/top", "int_parsing"),
        ("/lines/1/name", "missing"),
        ("/lines/1/quantity", "int_parsing"),
        ("/owner", "missing"),
    ]


def test_parameter_pointers_keep_the_name_and_list_indexes() -> None:
    errors = call_app(basket_app(), "GET", "/baskets?ids=1&ids=x&limit=some").json()["errors"]
    assert [(e["in"], e["pointer"]) for e in errors] == [("query", "/ids/1"), ("query", "/limit")]


@pytest.mark.parametrize("validation_status", [400, 422])
def test_openapi_documents_the_answers_actually_sent(validation_status: int) -> None:
    app = FastAPI()

    @app.post("/baskets")
    async def create(basket: _Basket) -> None:
        return None

    add_error_handlers(app, validation_status=validation_status)
    document = call_app(app, "GET", "/openapi.json").json()
    responses = document["paths"]["/baskets"]["post"]["responses"]
    assert set(responses) == {"200", str(validation_status), "default"}
    for answer in (responses[str(validation_status)], responses["default"]):
        assert answer["content"] == {
            "application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}},
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}},
        }
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and {"ErrorEnvelope", "ProblemDetails"} <= set(schemas)
    assert call_app(app, "GET", "/openapi.json").json() == document  # rewritten once, stable


@pytest.mark.filterwarnings("ignore:The `root_path` parameter is deprecated")  # still used by apps
@pytest.mark.parametrize(("root_path", "served_path"), [("/api", "/baskets/7"), ("/api", "/api/baskets/7")])
def test_instance_is_the_path_the_client_used(root_path: str, served_path: str) -> None:
    """``FastAPI(root_path=...)`` leaves it out of ``path``; servers (uvicorn --root-path) put it in."""
    app = FastAPI(root_path=root_path)

    @app.get("/baskets/{basket}")
    async def basket(basket: int) -> None:
        raise HTTPException(status_code=404, headers={"Vary": "Cookie"})

    add_error_handlers(app, problem_details=True)
    response = call_app(app, "GET", served_path)
    assert response.status_code == 404
    assert response.json()["instance"] == "/api/baskets/7"
    assert response.headers["vary"] == "Cookie, Accept, Accept-Language"


class ProblemDetails(BaseModel):
    """An application model that happens to share a name with ours."""

    mine: int


class BadInput(BaseModel):
    reason: str


def test_openapi_keeps_what_the_app_declared() -> None:
    app = FastAPI()

    @app.post("/own400", responses={400: {"model": BadInput, "description": "My bad input"}})
    async def own400(basket: _Basket) -> None:
        return None

    @app.get("/pd")
    async def pd() -> ProblemDetails:
        return ProblemDetails(mine=1)

    add_error_handlers(app)
    document = call_app(app, "GET", "/openapi.json").json()
    own = document["paths"]["/own400"]["post"]["responses"]
    assert own["400"]["description"] == "My bad input"
    assert own["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/BadInput"}
    assert own["default"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/ResilienceProblemDetails"
    }
    schemas = document["components"]["schemas"]
    assert schemas["ProblemDetails"]["properties"] == {"mine": {"title": "Mine", "type": "integer"}}
    assert {"ResilienceErrorEnvelope", "ResilienceProblemDetails", "ResilienceValidationItem"} <= set(schemas)
    assert "ErrorEnvelope" not in schemas
    assert call_app(app, "GET", "/openapi.json").json() == document
