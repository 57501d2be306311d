"""Load: 64 concurrent clients, 2,000 requests, zero errors; concurrent requests share forward passes."""

from __future__ import annotations

import http.client
import json
import threading
import time

from tests.helpers.inference_fixtures import IMAGE_CLASSES, npy_bytes, png_bytes, random_pixels

CLIENTS = 64
REQUESTS = 2000


def test_64_concurrent_clients_2000_requests_zero_errors(cnn_server):
    bodies = [("image/png", png_bytes(random_pixels(i))) for i in range(8)]
    bodies += [("application/x-npy", npy_bytes(random_pixels(i))) for i in range(8, 16)]
    before = cnn_server.ping()
    failures: list[str] = []
    done = [0]
    lock = threading.Lock()
    start_together = threading.Barrier(CLIENTS)

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", cnn_server.port, timeout=60)
        start_together.wait()
        for n in range(index, REQUESTS, CLIENTS):
            content_type, body = bodies[n % len(bodies)]
            try:
                connection.request("POST", "/invocations", body, {"Content-Type": content_type})
                response = connection.getresponse()
                payload = response.read()
                prediction = json.loads(payload)["predictions"][0] if response.status == 200 else None
                if prediction is None or prediction["label"] not in IMAGE_CLASSES:
                    failures.append(f"{response.status} {payload[:200]!r}")
            except Exception as error:  # any transport error is a failure of the test
                failures.append(repr(error))
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", cnn_server.port, timeout=60)
            with lock:
                done[0] += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    elapsed = time.perf_counter() - started
    assert done[0] == REQUESTS
    assert not failures, (len(failures), failures[:5])
    after = cnn_server.ping()
    passes = after["forward_passes"] - before["forward_passes"]
    rows = after["rows"] - before["rows"]
    assert rows == REQUESTS
    # with 64 clients waiting, the requests that queue during one forward pass share the next one
    assert rows / passes > 1.5, (rows, passes)
    print(f"{REQUESTS} requests in {elapsed:.1f} s ({REQUESTS / elapsed:.0f}/s), mean batch {rows / passes:.1f}")
