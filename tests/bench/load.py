"""A closed-loop HTTP/1.1 load generator: N clients on keep-alive connections, each sending
its next call as soon as the previous answer arrived (as release tooling and workers do).

A scenario is an async function ``step(client, n)`` making one or more calls; every call's
latency is recorded under its label and the scenario's iterations give the throughput. It
runs in this process on one core; ``LoadResult.loader_cores`` says how much of it it used.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["Client", "LoadResult", "percentile", "run_load"]


def percentile(sorted_values: list[float], p: float) -> float:
    """The nearest-rank percentile of already sorted values (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, round(p / 100 * len(sorted_values) + 0.4999999))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class HttpError(Exception):
    pass


class Client:
    """One keep-alive HTTP/1.1 connection; ``call`` records latency per label."""

    def __init__(self, base_url: str, latencies: dict[str, list[float]], rng: random.Random):
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.latencies = latencies
        self.rng = rng
        self.statuses: dict[int, int] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError:
                pass
        self._reader = self._writer = None

    async def call(
        self,
        label: str,
        method: str,
        path: str,
        body: object | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """Send one request and read its whole answer; the latency counts both."""
        payload = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if body is not None:
            head.append("Content-Type: application/json")
        if body is not None or method in ("POST", "PATCH", "PUT"):
            head.append(f"Content-Length: {len(payload)}")
        for name, value in (headers or {}).items():
            head.append(f"{name}: {value}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + payload
        start = time.perf_counter()
        reader, writer = await self._connect()
        writer.write(data)
        status, answer, keep = await _read_response(reader)
        elapsed = time.perf_counter() - start
        if not keep:
            await self.close()
        self.latencies.setdefault(label, []).append(elapsed)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        return status, answer


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = None
    chunked = False
    keep = True
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name == "connection" and value.strip().lower() == "close":
            keep = False
    if chunked:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        return status, b"".join(parts), keep
    if length is None:
        raise HttpError("an answer without Content-Length or chunked encoding")
    return status, await reader.readexactly(length), keep


Step = Callable[[Client, int], Awaitable[None]]


@dataclass
class LoadResult:
    seconds: float
    iterations: int
    latencies: dict[str, list[float]]
    statuses: dict[int, int]
    loader_cores: float
    errors: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.iterations / self.seconds if self.seconds else 0.0

    def summary(self, label: str) -> dict[str, float]:
        """Latencies of one label in milliseconds: p50, p90, p99, max, and calls/s."""
        values = sorted(self.latencies.get(label, []))
        return {
            "calls_per_s": len(values) / self.seconds if self.seconds else 0.0,
            "p50": percentile(values, 50) * 1000,
            "p90": percentile(values, 90) * 1000,
            "p99": percentile(values, 99) * 1000,
            "max": (values[-1] * 1000) if values else 0.0,
        }


async def _run(
    base_url: str, step: Step, clients: int, seconds: float, warmup: float, seed: int
) -> LoadResult:
    latencies: dict[str, list[float]] = {}
    statuses: dict[int, int] = {}
    errors: list[str] = []
    counter = 0
    measuring = False
    deadline = 0.0

    async def one(index: int) -> None:
        nonlocal counter
        rng = random.Random(seed * 1000 + index)
        mine: dict[str, list[float]] = {}
        client = Client(base_url, mine, rng)
        n = 0
        try:
            while True:
                now = time.perf_counter()
                if deadline and now >= deadline:
                    break
                was_measuring = measuring
                mine.clear()
                try:
                    await step(client, index * 10_000_000 + n)
                except (OSError, asyncio.IncompleteReadError, HttpError, ValueError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    await client.close()
                    if len(errors) > 1000:
                        break
                    continue
                n += 1
                if was_measuring and time.perf_counter() <= deadline:
                    counter += 1
                    for label, values in mine.items():
                        latencies.setdefault(label, []).extend(values)
        finally:
            for status, count in client.statuses.items():
                statuses[status] = statuses.get(status, 0) + count
            await client.close()

    tasks = [asyncio.create_task(one(i)) for i in range(clients)]
    await asyncio.sleep(warmup)
    measuring = True
    cpu0 = os.times()
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*tasks)
    end = time.perf_counter()
    cpu1 = os.times()
    loader = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / (end - start)
    return LoadResult(seconds, counter, latencies, statuses, loader, errors)


def run_load(
    base_url: str,
    step: Step,
    *,
    clients: int = 16,
    seconds: float = 20.0,
    warmup: float = 2.0,
    seed: int = 1,
) -> LoadResult:
    """Run ``clients`` closed loops of ``step`` for ``warmup`` + ``seconds``; only iterations
    started and finished in the measured window count."""
    return asyncio.run(_run(base_url, step, clients, seconds, warmup, seed))
