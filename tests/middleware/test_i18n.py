"""Messages translated by code, language negotiated from Accept-Language, codes never change."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from importlib import resources

import pytest

from resilience._i18n import CATALOGS, negotiate_language
from resilience.middleware import register_messages

from ._app import make_app
from .conftest import Call, call_app


@pytest.fixture(autouse=True)
def restore_catalogs() -> Iterator[None]:
    """Tests here register messages; put the process-wide catalogs back afterwards."""
    saved = copy.deepcopy(CATALOGS._loaded())
    yield
    CATALOGS._messages = None
    CATALOGS._loaded()
    CATALOGS.register("en", {})  # refresh the language set and the negotiation cache
    assert set(CATALOGS._loaded()) == set(saved)


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("de-CH", "de"),  # regional tag falls back to its language
        ("de-CH, de;q=0.9, en;q=0.8", "de"),
        ("fr-CA,fr;q=0.9", "fr"),
        ("it, fr;q=0.7, de;q=0.8", "de"),  # unsupported first choice, then by quality
        ("de;q=0, fr", "fr"),  # q=0 means "not this one"
        ("ja", "en"),
        ("*", "en"),
        ("", "en"),
        ("de;q=nonsense, fr;q=0.2", "fr"),  # malformed range skipped
        ("EN-gb", "en"),
        ("en;q=0, *", "de"),  # the wildcard means any language but the excluded ones
        ("en;q=0, de;q=0, *", "fr"),
        ("de;q=0.5;level=1, fr;q=0.4", "de"),  # other parameters next to q are ignored
        ("fr;level=1", "fr"),
    ],
)
def test_negotiation(header: str, language: str) -> None:
    assert negotiate_language(header) == language


@pytest.mark.parametrize(
    ("header", "content_language", "message"),
    [
        (
            "de-DE,de;q=0.9",
            "de",
            "Ein für diese Anfrage benötigter Dienst ist vorübergehend nicht verfügbar.",
        ),
        ("fr", "fr", "Un service nécessaire à cette requête est temporairement indisponible."),
        ("es, en;q=0.5", "en", "A service this request needs is temporarily unavailable."),
    ],
)
def test_same_code_in_every_language(demo: Call, header: str, content_language: str, message: str) -> None:
    response = demo("GET", "/breaker", headers={"accept-language": header})
    assert response.status_code == 503
    assert response.headers["content-language"] == content_language
    assert response.json()["error"]["code"] == "CIRCUIT_OPEN"
    assert response.json()["error"]["message"] == message
    assert "Accept-Language" in response.headers["vary"]


def test_validation_items_are_translated(demo: Call) -> None:
    response = demo("POST", "/orders", json={"item": "x", "quantity": -5}, headers={"accept-language": "de"})
    errors = response.json()["error"]["context"]["errors"]
    assert response.json()["error"]["message"] == "Die Anfrage ist ungültig."
    assert errors == [
        {"in": "body", "pointer": "/quantity", "type": "greater_than", "message": "Muss größer als 0 sein."}
    ]


def test_problem_title_is_translated(demo: Call) -> None:
    response = demo(
        "GET", "/nowhere", headers={"accept": "application/problem+json", "accept-language": "fr"}
    )
    assert response.json()["title"] == "Introuvable."
    assert response.json()["code"] == "HTTP_404"
    assert response.headers["content-language"] == "fr"


def test_missing_translation_falls_back_to_english_and_says_so() -> None:
    register_messages("en", {"ORDER_LOCKED": "This order is locked."})
    response = call_app(make_app(), "GET", "/locked", headers={"accept-language": "de"})
    assert response.json()["error"]["message"] == "This order is locked."
    assert response.headers["content-language"] == "en"
    register_messages("de", {"ORDER_LOCKED": "Diese Bestellung ist gesperrt."})
    response = call_app(make_app(), "GET", "/locked", headers={"accept-language": "de-AT"})
    assert response.json()["error"]["message"] == "Diese Bestellung ist gesperrt."
    assert response.headers["content-language"] == "de"


def test_an_application_can_add_a_language() -> None:
    register_messages("nl-BE", {"HTTP_404": "Niet gevonden."})
    assert negotiate_language("nl-BE, en;q=0.1") == "nl-be"
    response = call_app(make_app(), "GET", "/nowhere", headers={"accept-language": "nl-BE"})
    assert response.json()["error"]["message"] == "Niet gevonden."
    assert response.headers["content-language"] == "nl-BE"


def test_default_language_is_configurable_and_checked() -> None:
    response = call_app(make_app(default_language="fr"), "GET", "/nowhere")
    assert response.headers["content-language"] == "fr"
    with pytest.raises(ValueError, match="no message catalog"):
        make_app(default_language="xx")


def test_shipped_catalogs_cover_the_same_codes() -> None:
    locales = resources.files("resilience").joinpath("locales")
    english = set(json.loads(locales.joinpath("en.json").read_text("utf-8")))
    for language in ("de", "fr"):
        assert set(json.loads(locales.joinpath(f"{language}.json").read_text("utf-8"))) == english


def test_bad_catalog_input_is_refused() -> None:
    with pytest.raises(ValueError, match="language tag"):
        register_messages("not a tag", {"X": "y"})
    with pytest.raises(TypeError, match="str codes"):
        register_messages("en", {"X": 1})  # type: ignore[dict-item]
