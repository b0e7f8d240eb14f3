"""Serving load benchmark: a local `distil-bilstm serve` on the loopback address, N concurrent
clients each sending M single-text /predict requests, bounded in time.

    python bench/serve_load.py --model runs/nsmc/<run> [--clients 20 --requests 1000 --max-seconds 300]

Prints requests/s, p50/p99 latency and the error count (aim: 0 errors); writes
bench/results/serve_load.json. Traffic goes to 127.0.0.1 only; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

REVIEWS = [
    "정말 재미있게 봤어요",
    "시간 낭비였다",
    "배우들 연기가 최고",
    "스토리가 너무 뻔하다",
    "a moving, funny film",
    "two hours I will never get back",
    "또 보고 싶은 영화",
    "지루해서 중간에 나왔음",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not become ready in {seconds} s")


def client_loop(url: str, n: int, deadline: float, latencies: list, errors: list, seed: int) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(n):
            if time.monotonic() > deadline:
                errors.append("deadline")
                return
            start = time.perf_counter()
            try:
                response = client.post("/predict", json={"texts": [REVIEWS[(seed + i) % len(REVIEWS)]]})
                ok = response.status_code == 200
            except httpx.HTTPError as err:
                ok, response = False, err
            latencies.append(time.perf_counter() - start)
            if not ok:
                errors.append(str(getattr(response, "status_code", response)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=1000, help="per client")
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument("--out", default="bench/results/serve_load.json")
    args = parser.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "distil_bilstm.cli", "serve", "--model", args.model, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(url, 60)
        latencies: list[float] = []
        errors: list[str] = []
        deadline = time.monotonic() + args.max_seconds
        threads = [
            threading.Thread(target=client_loop, args=(url, args.requests, deadline, latencies, errors, i))
            for i in range(args.clients)
        ]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(timeout=30)
    ordered = sorted(latencies)
    result = {
        "model": args.model,
        "clients": args.clients,
        "requests_per_client": args.requests,
        "requests": len(latencies),
        "seconds": round(seconds, 2),
        "requests_per_second": round(len(latencies) / seconds, 1),
        "p50_ms": round(1000 * statistics.median(ordered), 2),
        "p99_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2),
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:10],
    }
    print("| clients | requests | seconds | requests/s | p50 ms | p99 ms | errors |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {result['clients']} | {result['requests']:,} | {result['seconds']} | {result['requests_per_second']:,} | "
        f"{result['p50_ms']} | {result['p99_ms']} | {result['errors']} |"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
