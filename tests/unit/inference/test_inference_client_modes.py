"""The client in each serving mode, against botocore's Stubber (no network, no AWS account):
realtime, scale-to-zero (inference component name, cold-start failures with backoff and progress),
async (upload, invoke_endpoint_async, polling the output and the failure objects)."""

from __future__ import annotations

import io
import json

import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from inference.async_invocation import input_key, parse_s3_uri, poll_delays

from inference import client as cli

ANSWER = {
    "model": "cnn",
    "predictions": [
        {
            "label": "cat",
            "index": 0,
            "probability": 0.9,
            "probabilities": [0.9, 0.1],
            "top_k": [{"label": "cat", "index": 0, "probability": 0.9}],
        }
    ],
}
NO_CAPACITY = (
    "Inference Component elasticml-dev-cnn-component has no capacity to process this request. "
    "ApplicationAutoScaling may be in-progress (if configured) or try to increase the capacity by "
    "invoking UpdateInferenceComponentRuntimeConfig API."
)


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))


def body(payload: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(payload), len(payload))


class Recorder:
    """Stands in for time.sleep and the progress callback: records instead of waiting."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self.messages: list[str] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def progress(self, message: str) -> None:
        self.messages.append(message)


def make_client(recorder: Recorder, **options) -> cli.EndpointClient:
    return cli.EndpointClient(
        "elasticml-dev-cnn", region="eu-west-1", sleep=recorder.sleep, progress=recorder.progress, **options
    )


def runtime_answer(stubber: Stubber, expected: dict) -> None:
    stubber.add_response(
        "invoke_endpoint", {"Body": body(json.dumps(ANSWER).encode()), "ContentType": "application/json"}, expected
    )


def test_realtime_sends_no_component_name():
    recorder = Recorder()
    client = make_client(recorder)
    with Stubber(client._client) as stubber:
        runtime_answer(
            stubber,
            {
                "EndpointName": "elasticml-dev-cnn",
                "Body": b"png",
                "ContentType": "image/png",
                "Accept": "application/json",
                "CustomAttributes": "top_k=1",
            },
        )
        assert client.invoke(b"png", "image/png", top_k=1) == ANSWER
        stubber.assert_no_pending_responses()


def test_scale_to_zero_names_the_component_and_waits_through_the_cold_start():
    recorder = Recorder()
    client = make_client(recorder, component="elasticml-dev-cnn-component")
    expected = {
        "EndpointName": "elasticml-dev-cnn",
        "InferenceComponentName": "elasticml-dev-cnn-component",
        "Body": b"png",
        "ContentType": "image/png",
        "Accept": "application/json",
    }
    with Stubber(client._client) as stubber:
        for _ in range(3):
            stubber.add_client_error("invoke_endpoint", "ValidationError", NO_CAPACITY, 400, expected_params=expected)
        runtime_answer(stubber, expected)
        assert client.invoke(b"png", "image/png") == ANSWER
        stubber.assert_no_pending_responses()
    assert recorder.slept == [10.0, 20.0, 40.0]  # exponential backoff
    assert len(recorder.messages) == 3
    assert recorder.messages[0] == (
        "elasticml-dev-cnn: no instance yet (scaling out from zero); retrying in 10 s (0 s of up to 900 s waited)"
    )
    assert "(30 s of up to 900 s waited)" in recorder.messages[2]


def test_scale_to_zero_gives_up_after_the_wait_with_what_to_do():
    recorder = Recorder()
    client = make_client(recorder, component="ic", wait_for_capacity_s=45)
    with Stubber(client._client) as stubber:
        for _ in range(4):
            stubber.add_client_error("invoke_endpoint", "ValidationError", NO_CAPACITY, 400)
        with pytest.raises(cli.InvocationError) as raised:
            client.invoke(b"png", "image/png")
        stubber.assert_no_pending_responses()
    assert recorder.slept == [10.0, 20.0, 15.0]  # the last wait is cut to the budget
    assert raised.value.status == 400
    assert "no capacity after waiting 45 s" in str(raised.value) and "--wait-for-capacity" in str(raised.value)


def test_zero_wait_fails_at_once_and_other_errors_are_not_retried():
    recorder = Recorder()
    client = make_client(recorder, component="ic", wait_for_capacity_s=0)
    with Stubber(client._client) as stubber:
        stubber.add_client_error("invoke_endpoint", "ValidationError", NO_CAPACITY, 400)
        with pytest.raises(cli.InvocationError, match="no capacity after waiting 0 s"):
            client.invoke(b"png", "image/png")
        stubber.add_client_error("invoke_endpoint", "ModelError", "Received client error (415)", 424)
        with pytest.raises(cli.InvocationError) as raised:
            client.invoke(b"x", "image/png")
        assert raised.value.status == 424
    assert recorder.slept == []


def test_capacity_delays_fill_the_budget_exactly():
    delays = list(cli.capacity_delays(900))
    assert delays[:5] == [10, 20, 40, 60, 60] and sum(delays) == 900


# --- async -------------------------------------------------------------------------------------------------

OUTPUT = "s3://elasticml-dev-artifacts-123456789012-eu-west-1/async/cnn/output/abc.out"
FAILURE = "s3://elasticml-dev-artifacts-123456789012-eu-west-1/async/cnn/failure/abc-error.out"
INPUT_PREFIX = "s3://elasticml-dev-artifacts-123456789012-eu-west-1/async/cnn/input/"


def stub_submit(s3: Stubber, runtime: Stubber) -> None:
    s3.add_response(
        "put_object",
        {},
        {
            "Bucket": "elasticml-dev-artifacts-123456789012-eu-west-1",
            "Key": ANY,
            "Body": b"png",
            "ContentType": "image/png",
        },
    )
    runtime.add_response(
        "invoke_endpoint_async",
        {"InferenceId": "abc", "OutputLocation": OUTPUT, "FailureLocation": FAILURE},
        {
            "EndpointName": "elasticml-dev-cnn",
            "InputLocation": ANY,
            "ContentType": "image/png",
            "Accept": "application/json",
            "CustomAttributes": "top_k=2",
        },
    )


def not_yet(s3: Stubber, uri: str) -> None:
    bucket, key = parse_s3_uri(uri)
    s3.add_client_error(
        "get_object",
        "NoSuchKey",
        "The specified key does not exist.",
        404,
        expected_params={"Bucket": bucket, "Key": key},
    )


def test_async_uploads_invokes_and_polls_until_the_answer():
    recorder = Recorder()
    client = make_client(recorder, async_input=INPUT_PREFIX)
    with Stubber(client._client) as runtime, Stubber(client.s3) as s3:
        stub_submit(s3, runtime)
        for _ in range(2):
            not_yet(s3, OUTPUT)
            not_yet(s3, FAILURE)
        bucket, key = parse_s3_uri(OUTPUT)
        s3.add_response("get_object", {"Body": body(json.dumps(ANSWER).encode())}, {"Bucket": bucket, "Key": key})
        assert client.invoke_async(b"png", "image/png", "cat.png", top_k=2) == ANSWER
        runtime.assert_no_pending_responses()
        s3.assert_no_pending_responses()
    assert recorder.slept == [2.0, 4.0]
    assert recorder.messages[0].startswith("abc: queued or running; checking again in 2 s")


def test_async_failure_object_becomes_the_error():
    recorder = Recorder()
    client = make_client(recorder, async_input=INPUT_PREFIX)
    with Stubber(client._client) as runtime, Stubber(client.s3) as s3:
        stub_submit(s3, runtime)
        not_yet(s3, OUTPUT)
        bucket, key = parse_s3_uri(FAILURE)
        s3.add_response(
            "get_object",
            {"Body": body(b'{"error": "bad_image", "message": "not a PNG"}')},
            {"Bucket": bucket, "Key": key},
        )
        with pytest.raises(cli.InvocationError) as raised:
            client.invoke_async(b"png", "image/png", "cat.png", top_k=2)
    assert raised.value.code == "async_failure"
    assert "not a PNG" in str(raised.value) and FAILURE in str(raised.value)


def test_async_gives_up_after_its_timeout_naming_where_the_answer_will_be():
    recorder = Recorder()
    client = make_client(recorder, async_input=INPUT_PREFIX, async_timeout_s=5)
    with Stubber(client._client) as runtime, Stubber(client.s3) as s3:
        stub_submit(s3, runtime)
        for _ in range(3):
            not_yet(s3, OUTPUT)
            not_yet(s3, FAILURE)
        with pytest.raises(cli.InvocationError, match=f"no answer after 5 s; it will appear at {OUTPUT}"):
            client.invoke_async(b"png", "image/png", "cat.png", top_k=2)
    assert recorder.slept == [2.0, 3.0]


def test_async_upload_denied_is_an_endpoint_error():
    recorder = Recorder()
    client = make_client(recorder, async_input="s3://other-bucket/in/")
    with Stubber(client.s3) as s3:
        s3.add_client_error("put_object", "AccessDenied", "Access Denied", 403)
        with pytest.raises(cli.InvocationError, match=r"HTTP 403 AccessDenied: upload to s3://other-bucket/in/"):
            client.submit_async(b"png", "image/png", "cat.png")


def test_cli_async_no_wait_prints_where_the_answers_go(tmp_path, monkeypatch, capsys):
    image = tmp_path / "cat.png"
    image.write_bytes(b"png")
    created = {}
    real = cli.EndpointClient

    def patched(*args, **kwargs):
        created["client"] = client = real(*args, **kwargs)
        runtime, s3 = Stubber(client._client), Stubber(client.s3)
        stub_submit(s3, runtime)
        runtime.activate()
        s3.activate()
        return client

    monkeypatch.setattr(cli, "EndpointClient", patched)
    code = cli.main(
        [
            "--endpoint",
            "elasticml-dev-cnn",
            "--region",
            "eu-west-1",
            "--async-input",
            INPUT_PREFIX,
            "--no-wait",
            "--top-k",
            "2",
            "--json",
            str(image),
        ]
    )
    assert code == cli.EXIT_OK
    queued = json.loads(capsys.readouterr().out)[0]["queued"]
    assert queued["output"] == OUTPUT and queued["failure"] == FAILURE
    assert queued["input"].startswith(INPUT_PREFIX) and queued["input"].endswith("-cat.png")


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--url", "http://127.0.0.1:8080", "--async-input", INPUT_PREFIX], "needs a deployed endpoint"),
        (["--endpoint", "e", "--async-input", "bucket/prefix"], "must be an s3://"),
        (["--endpoint", "e", "--no-wait"], "--no-wait applies to --async-input only"),
        (["--endpoint", "e", "--component", "c", "--async-input", INPUT_PREFIX], "different serving modes"),
    ],
)
def test_cli_refuses_mixed_modes(argv, message, capsys, tmp_path):
    assert cli.main([*argv, str(tmp_path)]) == cli.EXIT_USAGE
    assert message in capsys.readouterr().err


def test_input_keys_are_unique_under_the_prefix():
    (bucket, first), (_, second) = input_key(INPUT_PREFIX, "my cat.png"), input_key(INPUT_PREFIX, "my cat.png")
    assert bucket == "elasticml-dev-artifacts-123456789012-eu-west-1"
    assert first != second and first.startswith("async/cnn/input/") and first.endswith("-my_cat.png")
    assert sum(poll_delays(60)) == 60
    with pytest.raises(ValueError, match="not an s3://BUCKET/KEY location"):
        parse_s3_uri("https://example.com/x")
