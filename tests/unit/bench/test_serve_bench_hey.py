"""Reading hey's summary and building its requests (benchmarks.serve_load), without a server."""

from __future__ import annotations

import email

import pytest

from benchmarks.serve_load import LoadParseError, hey_command, multipart, parse_hey

SUMMARY = """
Summary:
  Total:	4.0000 secs
  Slowest:	0.2050 secs
  Fastest:	0.0025 secs
  Average:	0.0344 secs
  Requests/sec:	930.0000

Latency distribution:
  10% in 0.0264 secs
  25% in 0.0303 secs
  50% in 0.0313 secs
  75% in 0.0325 secs
  90% in 0.0397 secs
  95% in 0.0500 secs
  99% in 0.1079 secs

Status code distribution:
  [200]	3700 responses
  [503]	20 responses

Error distribution:
  [{errors}]	Post "http://127.0.0.1:8080/invocations": context deadline exceeded
"""

FEW_ANSWERS = """
Summary:
  Total:	1.0563 secs
  Slowest:	0.1838 secs
  Requests/sec:	60.5888

Latency distribution:
  10% in 0.0674 secs
  50% in 0.1395 secs
  95% in 0.1824 secs
  0% in 0.0000 secs

Status code distribution:
  [200]	64 responses
"""


def test_counts_only_2xx_answers_as_throughput_and_the_rest_as_errors() -> None:
    result = parse_hey(SUMMARY.format(errors=10))
    assert result.ok == 3700
    assert result.errors == 30  # 20 x 503 + 10 transport errors
    assert result.rps == pytest.approx(3700 / 4.0)  # not hey's 930, which counts failures
    assert (result.p50_ms, result.p95_ms, result.p99_ms) == pytest.approx((31.3, 50.0, 107.9))
    assert result.status_codes == {"200": 3700, "503": 20}


def test_a_missing_top_percentile_is_bounded_by_the_slowest_answer() -> None:
    result = parse_hey(FEW_ANSWERS)
    assert result.p50_ms == pytest.approx(139.5)
    assert result.p99_ms == pytest.approx(183.8)  # the "0% in 0.0000" row is not read as p99 = 0


def test_output_without_a_summary_is_refused() -> None:
    with pytest.raises(LoadParseError):
        parse_hey("hey: connection refused\n")


def test_a_paced_run_spreads_the_target_rate_over_the_workers() -> None:
    command = hey_command("http://h/invocations", "body.png", "image/png", 64, 8, rate=320.0)
    assert command[command.index("-q") + 1] == "5.000"
    assert command[command.index("-c") + 1] == "64"
    assert command[-1] == "http://h/invocations"
    assert "-q" not in hey_command("http://h/invocations", "body.png", "image/png", 8, 8)


def test_the_multipart_upload_carries_the_exact_bytes_under_its_declared_boundary() -> None:
    payload = bytes(range(256)) * 4
    body, content_type = multipart(payload, "image.png", "image/png")
    message = email.message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    (part,) = message.get_payload()
    assert part.get_param("name", header="content-disposition") == "file"
    assert part.get_payload(decode=True) == payload
