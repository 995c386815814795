"""Per-call overhead of resilience's CircuitBreaker beside pybreaker, circuitbreaker, aiobreaker and
purgatory, measured in one run on the same functions.

Rows: closed-state success, closed-state failure (the breaker records it and re-raises), open-state
rejection, async success, and two threads sharing one breaker (wall time per call, per thread).
Each cell is the best of several interleaved timeit-style loops, in nanoseconds per call; ratios are
to a bare call and to a plain ``functools.wraps`` decorator. Bounded: about a minute.

    python bench/breaker.py [--quick]
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import logging
import os
import platform
import sys
import threading
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import aiobreaker
import circuitbreaker
import purgatory
import pybreaker

import resilience

N_SYNC = 20_000
N_ASYNC = 10_000
REPEATS = 7
LONG = 10_000  # seconds: an open breaker stays open for the whole run
NEVER = 10**9  # failures: a closed breaker never opens during the run


def ok() -> int:
    return 1


def bad() -> int:
    raise ValueError("bench")


async def aok() -> int:
    return 1


def plain(func: Callable[..., Any]) -> Callable[..., Any]:
    """The reference decorator: functools.wraps and nothing else."""
    if asyncio.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            return await func(*args, **kwargs)

        return async_wrapper

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


# -- one factory per library: (decorator for a never-opening breaker, decorator for an open one) --


def ours() -> tuple[Callable[..., Any], Callable[..., Any]]:
    closed = resilience.CircuitBreaker(NEVER, LONG)
    opened = resilience.CircuitBreaker(1, LONG)
    opened.force_open()
    return closed, opened


def trip(decorator: Callable[..., Any]) -> Callable[..., Any]:
    with contextlib.suppress(Exception):
        decorator(bad)()
    return decorator


def pybreaker_() -> tuple[Callable[..., Any], Callable[..., Any]]:
    return pybreaker.CircuitBreaker(fail_max=NEVER, reset_timeout=LONG), trip(
        pybreaker.CircuitBreaker(fail_max=1, reset_timeout=LONG)
    )


def circuitbreaker_() -> tuple[Callable[..., Any], Callable[..., Any]]:
    return circuitbreaker.CircuitBreaker(failure_threshold=NEVER, recovery_timeout=LONG), trip(
        circuitbreaker.CircuitBreaker(failure_threshold=1, recovery_timeout=LONG)
    )


def aiobreaker_() -> tuple[Callable[..., Any], Callable[..., Any]]:
    long = datetime.timedelta(seconds=LONG)
    return aiobreaker.CircuitBreaker(fail_max=NEVER, timeout_duration=long), trip(
        aiobreaker.CircuitBreaker(fail_max=1, timeout_duration=long)
    )


def purgatory_() -> tuple[Callable[..., Any], Callable[..., Any]]:
    factory = purgatory.SyncCircuitBreakerFactory(default_threshold=NEVER, default_ttl=LONG)
    return factory("closed"), trip(factory("opened", threshold=1))


def purgatory_async() -> Callable[..., Any]:
    factory = purgatory.AsyncCircuitBreakerFactory(default_threshold=NEVER, default_ttl=LONG)
    return factory("closed")


LIBRARIES: dict[str, Callable[[], tuple[Callable[..., Any], Callable[..., Any]]]] = {
    "resilience": ours,
    "pybreaker": pybreaker_,
    "circuitbreaker": circuitbreaker_,
    "aiobreaker": aiobreaker_,
    "purgatory": purgatory_,
}


def loop_sync(func: Callable[[], Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        func()
    return time.perf_counter() - start


def loop_raising(func: Callable[[], Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        try:  # noqa: SIM105 - contextlib.suppress would add its own cost to every call measured
            func()
        except Exception:
            pass
    return time.perf_counter() - start


def loop_async(func: Callable[[], Awaitable[Any]], n: int) -> float:
    async def run() -> float:
        start = time.perf_counter()
        for _ in range(n):
            await func()
        return time.perf_counter() - start

    return asyncio.run(run())


def loop_threads(func: Callable[[], Any], n: int) -> float:
    barrier = threading.Barrier(3)

    def worker() -> None:
        barrier.wait()
        for _ in range(n):
            func()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def build() -> dict[str, dict[str, Callable[[], float] | None]]:
    """Row -> candidate -> a function returning seconds for one loop (None: not supported)."""
    rows: dict[str, dict[str, Callable[[], float] | None]] = {
        "closed success": {"bare call": lambda: loop_sync(ok, N_SYNC), "functools.wraps": None},
        "closed failure": {"bare call": lambda: loop_raising(bad, N_SYNC)},
        "open rejection": {"bare call": lambda: loop_raising(bad, N_SYNC)},
        "async success": {"bare call": lambda: loop_async(aok, N_ASYNC)},
        "2 threads, 1 breaker": {"bare call": lambda: loop_threads(ok, N_SYNC)},
    }
    wrapped_ok, wrapped_bad, wrapped_aok = plain(ok), plain(bad), plain(aok)
    rows["closed success"]["functools.wraps"] = lambda: loop_sync(wrapped_ok, N_SYNC)
    rows["closed failure"]["functools.wraps"] = lambda: loop_raising(wrapped_bad, N_SYNC)
    rows["open rejection"]["functools.wraps"] = lambda: loop_raising(wrapped_bad, N_SYNC)
    rows["async success"]["functools.wraps"] = lambda: loop_async(wrapped_aok, N_ASYNC)
    rows["2 threads, 1 breaker"]["functools.wraps"] = lambda: loop_threads(wrapped_ok, N_SYNC)
    for name, factory in LIBRARIES.items():
        closed, opened = factory()
        f_ok, f_bad, f_open = closed(ok), closed(bad), opened(ok)
        rows["closed success"][name] = functools.partial(loop_sync, f_ok, N_SYNC)
        rows["closed failure"][name] = functools.partial(loop_raising, f_bad, N_SYNC)
        rows["open rejection"][name] = functools.partial(loop_raising, f_open, N_SYNC)
        rows["2 threads, 1 breaker"][name] = functools.partial(loop_threads, f_ok, N_SYNC)
        if name == "pybreaker":
            rows["async success"][name] = None  # pybreaker's async support needs Tornado
        else:
            f_aok = (purgatory_async() if name == "purgatory" else closed)(aok)
            rows["async success"][name] = functools.partial(loop_async, f_aok, N_ASYNC)
    return rows


def main() -> None:
    quick = "--quick" in sys.argv
    repeats = 3 if quick else REPEATS
    warnings.simplefilter("ignore")
    logging.getLogger("resilience.breaker").setLevel(logging.ERROR)
    rows = build()
    deadline = time.monotonic() + 75
    best: dict[str, dict[str, float]] = {row: {} for row in rows}
    for _ in range(repeats):
        for row, candidates in rows.items():
            n = N_ASYNC if row == "async success" else N_SYNC
            for name, run in candidates.items():
                if run is not None:
                    seconds = run() / n * 1e9
                    best[row][name] = min(best[row].get(name, float("inf")), seconds)
        if time.monotonic() > deadline:
            break
    try:
        with open("/proc/cpuinfo") as info:
            models = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    except OSError:
        models = []
    cpu = models[0] if models else platform.processor() or "unknown"
    print(
        f"# Python {platform.python_version()} on {cpu}, {os.cpu_count()} CPUs;"
        f" ns per call (best of {repeats})"
    )
    names = ["bare call", "functools.wraps", *LIBRARIES]
    header = f"{'row':<22}" + "".join(f"{name:>16}" for name in names)
    for row, results in best.items():
        print()
        print(header)
        print(
            f"{row:<22}" + "".join(f"{results[n]:>16.0f}" if n in results else f"{'n/a':>16}" for n in names)
        )
        bare, wraps = results["bare call"], results["functools.wraps"]
        print(
            f"{'  x bare call':<22}"
            + "".join(f"{results[n] / bare:>16.2f}" if n in results else f"{'':>16}" for n in names)
        )
        print(
            f"{'  x functools.wraps':<22}"
            + "".join(f"{results[n] / wraps:>16.2f}" if n in results else f"{'':>16}" for n in names)
        )
        libraries = {n: results[n] for n in LIBRARIES if n in results}
        print(f"  fastest breaker: {min(libraries, key=libraries.__getitem__)}")


if __name__ == "__main__":
    main()
