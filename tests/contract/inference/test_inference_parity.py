"""Parity: the server's probabilities equal the in-process model's for the same inputs (1e-5).

The in-process side decodes with its own few lines, written from docs/contracts.md, so the test also
pins the server's decoding to the contract.
"""

from __future__ import annotations

import io
import json
from math import gcd

import httpx
import numpy as np

from tests.helpers.inference_fixtures import (
    FEATURE_SHAPE,
    NUM_SAMPLES,
    SAMPLE_RATE,
    b64,
    npy_bytes,
    png_bytes,
    random_pixels,
    wav_bytes,
)

TOLERANCE = 1e-5


def server_probabilities(server, body: bytes, content_type: str) -> np.ndarray:
    response = httpx.post(server.url + "/invocations", content=body, headers={"Content-Type": content_type}, timeout=30)
    assert response.status_code == 200, response.text
    return np.array([p["probabilities"] for p in response.json()["predictions"]])


def contract_image_input(data: bytes, height: int = 32, width: int = 32) -> np.ndarray:
    from PIL import Image

    image = Image.open(io.BytesIO(data)).convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
    return (np.asarray(image, dtype=np.float32) / 255).transpose(2, 0, 1)


def contract_waveform(data: bytes) -> np.ndarray:
    from scipy.io import wavfile
    from scipy.signal import resample_poly

    rate, samples = wavfile.read(io.BytesIO(data))
    if samples.dtype == np.uint8:
        samples = (samples.astype(np.float32) - 128) / 128
    elif samples.dtype == np.int16:
        samples = samples.astype(np.float32) / 32768
    elif samples.dtype == np.int32:
        samples = samples.astype(np.float32) / 2**31
    samples = samples.astype(np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    divisor = gcd(SAMPLE_RATE, rate)
    samples = resample_poly(samples, SAMPLE_RATE // divisor, rate // divisor)
    if len(samples) >= NUM_SAMPLES:
        start = (len(samples) - NUM_SAMPLES) // 2
        return samples[start : start + NUM_SAMPLES].astype(np.float32)
    before = (NUM_SAMPLES - len(samples)) // 2
    return np.pad(samples, (before, NUM_SAMPLES - len(samples) - before)).astype(np.float32)


def test_cnn_parity_for_images_and_arrays(cnn_server, cnn_dir):
    import torch

    module = torch.export.load(str(cnn_dir / "model.pt2")).module()
    images = [png_bytes(random_pixels(i, 24 + 8 * i, 40)) for i in range(4)] + [png_bytes(random_pixels(9), "JPEG")]
    inputs = np.stack([contract_image_input(data) for data in images])
    with torch.inference_mode():
        expected = module(torch.from_numpy(inputs)).numpy()
    served = np.concatenate(
        [
            server_probabilities(cnn_server, data, "image/jpeg" if i == 4 else "image/png")
            for i, data in enumerate(images)
        ]
    )
    assert np.abs(served - expected).max() < TOLERANCE
    batch = server_probabilities(cnn_server, npy_bytes(inputs), "application/x-npy")
    assert np.abs(batch - expected).max() < TOLERANCE
    instances = {"instances": [{"b64": b64(data)} for data in images]}
    as_json = server_probabilities(cnn_server, json.dumps(instances).encode(), "application/json")
    assert np.abs(as_json - expected).max() < TOLERANCE


def test_mlp_parity_for_wav_waveforms_and_features(mlp_server, mlp_dir):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(mlp_dir / "saved_model"))
    rng = np.random.default_rng(3)
    t = np.arange(44100 * 2) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 1250 * t)], axis=1)
    wavs = [
        wav_bytes((stereo * 20000).astype(np.int16), 44100),
        wav_bytes((rng.uniform(-0.8, 0.8, 6000)).astype(np.float32), 8000),
        wav_bytes((rng.integers(0, 256, 11025)).astype(np.uint8), 11025),
    ]
    waveforms = np.stack([contract_waveform(data) for data in wavs])
    expected = loaded.serve(tf.constant(waveforms)).numpy()
    served = np.concatenate([server_probabilities(mlp_server, data, "audio/wav") for data in wavs])
    assert np.abs(served - expected).max() < TOLERANCE
    assert (
        np.abs(server_probabilities(mlp_server, npy_bytes(waveforms), "application/x-npy") - expected).max() < TOLERANCE
    )

    features = rng.normal(size=(5, *FEATURE_SHAPE)).astype(np.float32)
    expected_features = loaded.serve_features(tf.constant(features)).numpy()
    served_features = server_probabilities(mlp_server, npy_bytes(features), "application/x-npy")
    assert np.abs(served_features - expected_features).max() < TOLERANCE
