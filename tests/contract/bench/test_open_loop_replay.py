"""The open-loop benchmark's replay against a loopback HTTP server: every request sent, latency measured
from the intended send time."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from benchmarks import open_loop_replay


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_replay_sends_every_request_and_measures_from_the_intended_time():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        schedule = np.linspace(0, 0.5, 20)
        sent = open_loop_replay.replay(
            "127.0.0.1", server.server_address[1], "/invocations", b"{}", "application/json", schedule
        )
    finally:
        server.shutdown()
    assert [s.status for s in sent] == [200] * 20
    assert all(s.latency >= s.lag >= -0.001 for s in sent)
    summary = open_loop_replay.summarise(sent, slo_ms=1000, knee_rps=1000, window_s=1.0)
    assert summary["requests"] == 20 and summary["errors"] == 0
