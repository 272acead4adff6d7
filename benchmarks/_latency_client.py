"""Load generator for bench_exposition's latency table; runs in its own process (its own GIL).

``python _latency_client.py PORT ROUNDS PATH [PATH ...]``: for each round and each metrics path (in an
order that alternates from round to round), it asks the server to change every child once (``/churn``),
then starts a Prometheus-like scrape of the path in a thread and, until the scrape's response is complete,
sends small requests (``GET /ping``) one after another on a keep-alive connection. It also times pings
with no scrape running. Prints JSON: per path the latencies of the pings sent during a scrape and the
scrape times, and the idle latencies; all in nanoseconds.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time

PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
}


def get(conn: http.client.HTTPConnection, path: str, headers: dict[str, str] | None = None) -> bytes:
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}")
    return body


def main() -> None:
    port, rounds, paths = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    ping = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    control = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    scraper = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(200):  # warm up connections and the server
        get(ping, "/ping")
    idle: list[int] = []
    for _ in range(2000):
        start = time.perf_counter_ns()
        get(ping, "/ping")
        idle.append(time.perf_counter_ns() - start)
    during: dict[str, list[int]] = {path: [] for path in paths}
    scrapes: dict[str, list[int]] = {path: [] for path in paths}
    for path in paths:  # one untimed scrape each: first renders, thread pools
        get(control, "/churn")
        get(scraper, path, PROMETHEUS_HEADERS)
    for r in range(rounds):
        order = paths[r % len(paths) :] + paths[: r % len(paths)]
        for path in order:
            get(control, "/churn")
            done = threading.Event()

            def scrape(path: str = path, done: threading.Event = done) -> None:
                start = time.perf_counter_ns()
                get(scraper, path, PROMETHEUS_HEADERS)
                scrapes[path].append(time.perf_counter_ns() - start)
                done.set()

            thread = threading.Thread(target=scrape)
            thread.start()
            while not done.is_set():  # every ping sent while the scrape is in flight
                start = time.perf_counter_ns()
                get(ping, "/ping")
                during[path].append(time.perf_counter_ns() - start)
            thread.join()
    print(json.dumps({"idle": idle, "during": during, "scrapes": scrapes}))


if __name__ == "__main__":
    main()
