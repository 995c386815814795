"""Per-call overhead of ``resilience.retry`` beside tenacity, backoff and stamina, in one run.

Two cases, each with zero wait so only the library's own work is measured:

- success: the first attempt succeeds (the path every healthy call takes);
- one failure: the first attempt raises, the second succeeds.

Figures are the best of several repeats (ns per call) and the ratio to a bare successful call of
the same function. Logging is left at its default level (WARNING) with a NullHandler, so each
library pays for the records it creates (resilience and stamina log every retry) but none is printed.
The ``resilience.Policy`` row (fallback + retry + breaker) is a reference for the composed cost, not
a peer. Run: ``python bench/retry.py`` (about 40 s).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import timeit
from collections.abc import Callable
from typing import Any

import backoff
import stamina
import tenacity

from resilience.fallback import DefaultValueFallback
from resilience.policy import Policy
from resilience.retry import Retry, retry

REPEATS = 5
TARGET_SECONDS = 0.2  # per timing repeat


def make_target(fail_every_other: bool) -> Callable[[], int]:
    state = [0]

    def target() -> int:
        if fail_every_other:
            state[0] += 1
            if state[0] % 2:
                raise ConnectionError("transient")
        return 1

    return target


def hand_written_retry(target: Callable[[], int]) -> Callable[[], int]:
    """The floor for the failure case: catch once and call again, no policy at all."""

    def call() -> int:
        try:
            return target()
        except ConnectionError:
            return target()

    return call


def make_async_target() -> Callable[[], Any]:
    async def target() -> int:
        return 1

    return target


DECORATORS: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "resilience.retry": retry(max_attempts=3, base_delay=0.0, jitter=None),
    "tenacity": tenacity.retry(stop=tenacity.stop_after_attempt(3), wait=tenacity.wait_none(), reraise=True),
    "backoff": backoff.on_exception(backoff.constant, Exception, max_tries=3, interval=0, jitter=None),
    "stamina": stamina.retry(on=Exception, attempts=3, wait_initial=0.0, wait_max=0.0, wait_jitter=0.0),
    # for reference, not a peer: fallback + retry + breaker layers (no timeout) around the same call
    "resilience.Policy": Policy(
        "bench",
        retry=Retry(max_attempts=3, base_delay=0.0, jitter=None, wrap=True),
        fallback=DefaultValueFallback(0),
    ),
}


def per_call_ns(func: Callable[[], Any]) -> float:
    timer = timeit.Timer(func)
    number, _ = timer.autorange()
    number = max(1, int(number * TARGET_SECONDS / 0.2))
    return min(timer.repeat(repeat=REPEATS, number=number)) / number * 1e9


def per_call_async_ns(func: Callable[[], Any], calls: int = 20_000) -> float:
    async def loop() -> None:
        for _ in range(calls):
            await func()

    best = float("inf")
    for _ in range(REPEATS):
        start = timeit.default_timer()
        asyncio.run(loop())
        best = min(best, timeit.default_timer() - start)
    return best / calls * 1e9


def main() -> None:
    logging.basicConfig(handlers=[logging.NullHandler()], level=logging.WARNING, force=True)
    rows: list[tuple[str, str, float, float]] = []

    bare = per_call_ns(make_target(False))
    for label, failing in (("success", False), ("1 failure + success", True)):
        for name, decorator in DECORATORS.items():
            ns = per_call_ns(decorator(make_target(failing)))
            rows.append((label, name, ns, ns / bare))
    by_hand = per_call_ns(hand_written_retry(make_target(True)))
    rows.append(("1 failure + success", "hand-written loop", by_hand, by_hand / bare))
    rows.append(("success", "bare call", bare, 1.0))

    async_bare = per_call_async_ns(make_async_target())
    for name, decorator in DECORATORS.items():
        ns = per_call_async_ns(decorator(make_async_target()))
        rows.append(("async success", name, ns, ns / async_bare))
    rows.append(("async success", "bare await", async_bare, 1.0))

    print(f"Python {sys.version.split()[0]}; ratios are to a bare successful call ({bare:.0f} ns sync)")
    print(f"{'case':<22}{'library':<20}{'ns/call':>12}{'x bare':>10}")
    for label, name, ns, ratio in rows:
        print(f"{label:<22}{name:<20}{ns:>12.0f}{ratio:>10.1f}")


if __name__ == "__main__":
    main()
