"""Settings from SageMaker's variables and flags; the small request helpers (Accept, top_k, encoding)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from inference.__main__ import main
from inference.app import check_accept, encode, parse_top_k
from inference.errors import BadRequest, NotAcceptable
from inference.settings import ServeSettings, SettingsError


def test_defaults_are_sagemakers():
    settings = ServeSettings.from_env({})
    assert settings.model_dir == Path("/opt/ml/model")
    assert settings.port == 8080 and settings.workers == 1
    assert settings.max_payload_bytes == 6 * 1024 * 1024
    assert settings.max_batch_delay_ms == 0
    assert settings.threads >= 1


def test_environment_then_flags():
    env = {
        "SM_MODEL_DIR": "/m",
        "SAGEMAKER_BIND_TO_PORT": "9000",
        "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": "2",
        "INFERENCE_MAX_BATCH_SIZE": "8",
        "INFERENCE_MAX_BATCH_DELAY_MS": "5",
    }
    settings = ServeSettings.from_env(env)
    assert (settings.model_dir, settings.port, settings.workers) == (Path("/m"), 9000, 3)
    assert settings.max_payload_bytes == 2 * 1024 * 1024
    assert (settings.max_batch_size, settings.max_batch_delay_ms) == (8, 5.0)
    flagged = ServeSettings.from_env(env, port=7000, model_dir="/other", workers=None)
    assert (flagged.port, flagged.model_dir, flagged.workers) == (7000, Path("/other"), 3)
    assert ServeSettings.from_env(settings.to_env()) == settings


@pytest.mark.parametrize(
    "env,name",
    [
        ({"SAGEMAKER_BIND_TO_PORT": "http"}, "SAGEMAKER_BIND_TO_PORT"),
        ({"SAGEMAKER_BIND_TO_PORT": "70000"}, "SAGEMAKER_BIND_TO_PORT"),
        ({"SAGEMAKER_MODEL_SERVER_WORKERS": "0"}, "SAGEMAKER_MODEL_SERVER_WORKERS"),
        ({"INFERENCE_MAX_BATCH_SIZE": "5000"}, "INFERENCE_MAX_BATCH_SIZE"),
        ({"INFERENCE_ADAPTIVE_BATCH_WAIT_MS": "-1"}, "INFERENCE_ADAPTIVE_BATCH_WAIT_MS"),
        ({"INFERENCE_ADAPTIVE_BATCH_WAIT_MS": "soon"}, "INFERENCE_ADAPTIVE_BATCH_WAIT_MS"),
        ({"INFERENCE_MODEL_PROCESS": "2"}, "INFERENCE_MODEL_PROCESS"),
    ],
)
def test_invalid_settings_name_the_variable(env, name):
    with pytest.raises(SettingsError, match=name):
        ServeSettings.from_env(env)


def test_the_adaptive_batch_wait_is_on_by_default_and_set_by_variable_or_flag():
    assert ServeSettings.from_env({}).adaptive_batch_wait_ms == 10.0
    assert ServeSettings.from_env({"INFERENCE_ADAPTIVE_BATCH_WAIT_MS": "0"}).adaptive_batch_wait_ms == 0.0
    flagged = ServeSettings.from_env({"INFERENCE_ADAPTIVE_BATCH_WAIT_MS": "0"}, adaptive_batch_wait_ms=25)
    assert flagged.adaptive_batch_wait_ms == 25.0
    assert ServeSettings.from_env(flagged.to_env()) == flagged


def test_serve_refuses_a_folder_without_manifest(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SM_MODEL_DIR", raising=False)
    assert main(["serve", "--model-dir", str(tmp_path)]) == 2
    assert "manifest.json not found" in capsys.readouterr().err
    monkeypatch.setenv("SAGEMAKER_BIND_TO_PORT", "nope")
    assert main(["serve", "--model-dir", str(tmp_path)]) == 2
    assert "SAGEMAKER_BIND_TO_PORT" in capsys.readouterr().err


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "",
        "application/json",
        "*/*",
        "application/*",
        "text/html, application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
    ],
)
def test_accept_headers_that_allow_json(accept):
    check_accept(accept)


@pytest.mark.parametrize("accept", ["text/csv", "application/x-npy", "application/json;q=0", "image/*"])
def test_accept_headers_that_exclude_json(accept):
    with pytest.raises(NotAcceptable):
        check_accept(accept)


def test_top_k_attribute():
    assert parse_top_k(None) == 5
    assert parse_top_k("top_k=3") == 3
    assert parse_top_k("trace=abc; top_k=2") == 2
    assert parse_top_k("a=1,top-k=7") == 7
    assert parse_top_k("something else") == 5
    for bad in ("top_k=0", "top_k=-1", "top_k=x", "top_k=", "top_k=1.5"):
        with pytest.raises(BadRequest, match="top_k"):
            parse_top_k(bad)


def test_encode_ranks_classes_per_row(image_manifest):
    probabilities = np.array([[0.2, 0.5, 0.3], [0.7, 0.1, 0.2]], np.float32)
    rows = encode(probabilities, image_manifest, top_k=2)
    assert [r["label"] for r in rows] == ["b", "a"]
    assert [r["index"] for r in rows] == [1, 0]
    assert [t["label"] for t in rows[0]["top_k"]] == ["b", "c"]
    assert rows[1]["probabilities"] == pytest.approx([0.7, 0.1, 0.2])
    assert len(encode(probabilities, image_manifest, top_k=50)[0]["top_k"]) == 3


def test_limits_default_and_the_deadline_must_end_before_the_drain():
    settings = ServeSettings.from_env({})
    assert (
        settings.max_rows_per_request,
        settings.request_deadline_s,
        settings.header_timeout_s,
        settings.max_header_bytes,
        settings.max_connections,
    ) == (1024, 20.0, 10.0, 65536, 1000)
    assert settings.request_deadline_s < settings.graceful_timeout_s < 30
    with pytest.raises(SettingsError, match=r"INFERENCE_REQUEST_DEADLINE_S: 25.0 is out of range; .* below the drain"):
        ServeSettings.from_env({"INFERENCE_REQUEST_DEADLINE_S": "25"})
    for name in ("INFERENCE_MAX_ROWS_PER_REQUEST", "INFERENCE_MAX_HEADER_BYTES", "INFERENCE_MAX_CONNECTIONS"):
        with pytest.raises(SettingsError, match=name):
            ServeSettings.from_env({name: "0"})
