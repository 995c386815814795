"""Toxiproxy's error catalogue (spec §5): each error carries its message and HTTP status.

Messages and codes match Toxiproxy v2.12 byte for byte; the API writes them as
``{"error":MSG,"status":CODE}`` plus a newline. Bind and resolve failures are 500 with Go-like text.
"""

from __future__ import annotations


class ApiError(Exception):
    """An error answered to the client as ``{"error": message, "status": status}``."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def joined(self, detail: str) -> ApiError:
        """This error with ``: detail`` appended (Go's ``joinError``)."""
        return ApiError(f"{self.message}: {detail}", self.status)


BAD_REQUEST_BODY = ApiError("bad request body", 400)
MISSING_FIELD = ApiError("missing required field", 400)
INVALID_STREAM = ApiError("stream was invalid, can be either upstream or downstream", 400)
INVALID_TOXIC_TYPE = ApiError("invalid toxic type", 400)
PROXY_NOT_FOUND = ApiError("proxy not found", 404)
TOXIC_NOT_FOUND = ApiError("toxic not found", 404)
PROXY_ALREADY_EXISTS = ApiError("proxy already exists", 409)
TOXIC_ALREADY_EXISTS = ApiError("toxic already exists", 409)


def invalid_attribute(message: str) -> ApiError:
    """A toxic attribute refused by validation (a deliberate difference: the real server crashes)."""
    return ApiError(message, 400)


def net_error(message: str) -> ApiError:
    """A bind or resolve failure, with Go's ``net`` wording (500, as in Toxiproxy)."""
    return ApiError(message, 500)
