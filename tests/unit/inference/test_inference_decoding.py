"""Request bodies -> model inputs: every content type per model kind, and the 400/413/415/422 split."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from inference.decoding import FEATURES, IMAGE, WAVEFORM, decode
from inference.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, WrongShape
from PIL import Image

from inference import decoding
from tests.helpers.inference_fixtures import npy_bytes, png_bytes, wav_bytes
from tests.helpers.inference_unit import audio_manifest_for


def pixels(seed: int, height: int = 8, width: int = 6) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def expected_input(image: Image.Image, height: int = 8, width: int = 6) -> np.ndarray:
    resized = image.convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
    return (np.asarray(resized, dtype=np.float32) / 255).transpose(2, 0, 1)


def test_png_is_converted_to_rgb_resized_bilinear_and_scaled(image_manifest):
    source = Image.fromarray(pixels(0, 20, 30)).convert("P")
    buffer = io.BytesIO()
    source.save(buffer, "PNG")
    (part,) = decode(buffer.getvalue(), "image/png", image_manifest)
    assert part.entry == IMAGE and part.array.dtype == np.float32 and part.array.shape == (1, 3, 8, 6)
    assert np.array_equal(part.array[0], expected_input(source))


def test_jpeg_at_the_model_size_is_not_resized(image_manifest):
    data = png_bytes(pixels(1), "JPEG")
    (part,) = decode(data, "image/jpeg; foo=bar", image_manifest)
    assert np.array_equal(part.array[0], expected_input(Image.open(io.BytesIO(data))))


def test_npy_forms_for_images(image_manifest):
    batch = np.stack([pixels(i) for i in range(3)])
    floats = batch.transpose(0, 3, 1, 2).astype(np.float32) / 255
    for array, count in [(batch[0], 1), (batch, 3), (floats[0], 1), (floats, 3), (floats.astype(np.float64), 3)]:
        (part,) = decode(npy_bytes(array), "application/x-npy", image_manifest)
        assert part.array.shape == (count, 3, 8, 6) and part.array.dtype == np.float32
        assert np.allclose(part.array, floats[:count])
    big = np.stack([pixels(i, 16, 12) for i in range(2)])  # resized like images
    (part,) = decode(npy_bytes(big), "application/x-npy", image_manifest)
    assert np.array_equal(part.array[1], expected_input(Image.fromarray(big[1])))


@pytest.mark.parametrize(
    "array,words",
    [
        (np.zeros((3, 8, 7), np.float32), "shape"),
        (np.zeros((8, 6, 3), np.float32), "shape"),
        (np.zeros((8, 6, 4), np.uint8), "shape"),
        (np.zeros((2, 8, 6, 3), np.int16), "dtype"),
        (np.zeros((0, 3, 8, 6), np.float32), "empty"),
        (np.full((3, 8, 6), 2.0, np.float32), "outside [0, 1]"),
        (np.full((3, 8, 6), np.nan, np.float32), "non-finite"),
        (np.array(["a"]), "numeric"),
    ],
)
def test_npy_of_the_wrong_shape_dtype_or_range_is_422(image_manifest, array, words):
    with pytest.raises(WrongShape, match=words.replace("[", r"\[").replace("]", r"\]")):
        decode(npy_bytes(array), "application/x-npy", image_manifest)


def test_json_instances_for_images_in_order(image_manifest):
    a, b, c = pixels(1), pixels(2), pixels(3)
    instances = [
        {"b64": base64.b64encode(png_bytes(a)).decode()},
        (b.transpose(2, 0, 1) / 255).tolist(),
        c.tolist(),
    ]
    (part,) = decode(json.dumps({"instances": instances}).encode(), "application/json", image_manifest)
    assert part.array.shape == (3, 3, 8, 6)
    for row, source in zip(part.array, (a, b, c), strict=True):
        assert np.allclose(row, source.transpose(2, 0, 1) / 255, atol=1e-6)


@pytest.mark.parametrize(
    "body,error,words",
    [
        (b"{", BadRequest, "not valid JSON"),
        (b"[1, 2]", BadRequest, "instances"),
        (b'{"instances": 3}', BadRequest, "instances"),
        (b'{"instances": []}', WrongShape, "empty"),
        (b'{"instances": [{"b64": "@@"}]}', BadRequest, "base64"),
        (b'{"instances": [{"image": "x"}]}', BadRequest, "b64"),
        (b'{"instances": [{"b64": "aGVsbG8="}]}', BadRequest, "PNG or JPEG"),
        (b'{"instances": ["x"]}', WrongShape, "nested list"),
        (b'{"instances": [[1, [2]]]}', WrongShape, "rectangular"),
        (b'{"instances": [[[1e999]]]}', WrongShape, "non-finite"),
        (b'{"instances": [[[[[0, 0, 0]]]]]}', WrongShape, "shape"),
        (b'{"instances": [[[[300, 0, 0]]]]}', WrongShape, "0..255"),
        (b'{"instances": [' + b"[" * 50000 + b"]" * 50000 + b"]}", BadRequest, "JSON"),
        (b'{"instances": [' + b"7" * 5000 + b"]}", BadRequest, "JSON"),
    ],
)
def test_json_errors(image_manifest, body, error, words):
    with pytest.raises(error, match=words):
        decode(body, "application/json", image_manifest)


def test_json_pixels_of_any_size_are_resized(image_manifest):
    (part,) = decode(b'{"instances": [[[[1, 2, 3]]]]}', "application/json", image_manifest)
    assert part.array.shape == (1, 3, 8, 6)
    assert np.allclose(part.array[0, :, 0, 0], np.array([1, 2, 3]) / 255)


def test_image_errors(image_manifest, monkeypatch):
    png = png_bytes(pixels(4, 40, 40))
    with pytest.raises(BadRequest, match="PNG or JPEG"):
        decode(b"GIF89a" + bytes(100), "image/png", image_manifest)
    with pytest.raises(BadRequest, match="cannot be decoded"):
        decode(png[: len(png) - 30], "image/png", image_manifest)
    with pytest.raises(BadRequest, match="empty"):
        decode(b"", "image/png", image_manifest)
    monkeypatch.setattr(decoding, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(PayloadTooLarge, match="pixels"):
        decode(png, "image/png", image_manifest)


def test_unsupported_content_types_are_415(image_manifest, audio_manifest):
    for content_type in (None, "", "text/plain", "audio/wav", "image/gif"):
        with pytest.raises(UnsupportedMediaType, match="image/png"):
            decode(b"x", content_type, image_manifest)
    with pytest.raises(UnsupportedMediaType, match="audio/wav"):
        decode(b"x", "image/png", audio_manifest)
    with pytest.raises(UnsupportedMediaType, match="application/x-npy"):
        decode(b"x", "audio/wav", audio_manifest_for(waveform=False))


def test_audio_inputs(audio_manifest):
    t = np.arange(1600) / 16000
    wav = wav_bytes((np.sin(2 * np.pi * 500 * t) * 20000).astype(np.int16), 16000)
    for content_type in ("audio/wav", "audio/x-wav", "audio/wave"):
        (part,) = decode(wav, content_type, audio_manifest)
        assert part.entry == WAVEFORM and part.array.shape == (1, 800)
    waves = np.random.default_rng(0).uniform(-1, 1, (3, 800)).astype(np.float32)
    features = np.random.default_rng(1).normal(size=(2, 5, 4))
    cases = [(waves[0], WAVEFORM, 1), (waves, WAVEFORM, 3), (features[0], FEATURES, 1), (features, FEATURES, 2)]
    for array, entry, count in cases:
        (part,) = decode(npy_bytes(array), "application/x-npy", audio_manifest)
        assert part.entry == entry and len(part.array) == count and part.array.dtype == np.float32
    instances = [waves[0].tolist(), waves[1].tolist(), features[0].tolist(), {"b64": base64.b64encode(wav).decode()}]
    parts = decode(json.dumps({"instances": instances}).encode(), "application/json", audio_manifest)
    assert [(p.entry, len(p.array)) for p in parts] == [(WAVEFORM, 2), (FEATURES, 1), (WAVEFORM, 1)]


@pytest.mark.parametrize(
    "array,words",
    [
        (np.zeros(799, np.float32), "shape"),
        (np.zeros((2, 2, 800), np.float32), "shape"),
        (np.zeros((4, 5), np.float32), "shape"),
        (np.zeros(800, np.int16), "dtype"),
        (np.full(800, 1000.0, np.float32), "outside"),
        (np.full((5, 4), 1e39), "non-finite"),
    ],
)
def test_audio_arrays_of_the_wrong_shape_dtype_or_range_are_422(audio_manifest, array, words):
    with pytest.raises(WrongShape, match=words):
        decode(npy_bytes(array), "application/x-npy", audio_manifest)


def test_features_only_model_refuses_waveform_arrays():
    manifest = audio_manifest_for(waveform=False)
    with pytest.raises(WrongShape, match="features"):
        decode(npy_bytes(np.zeros(800, np.float32)), "application/x-npy", manifest)
    (part,) = decode(npy_bytes(np.zeros((5, 4), np.float32)), "application/x-npy", manifest)
    assert part.entry == FEATURES


@pytest.mark.parametrize("width, height", [(20_000, 20_000), (6_000, 6_000)])  # past Pillow's bomb limit; past ours
def test_images_claiming_too_many_pixels_are_413_as_the_contract_says(image_manifest, width, height):
    from tests.helpers.hostile import png_claiming

    body = png_claiming(width, height)
    with pytest.raises(PayloadTooLarge, match="pixels"):
        decode(body, "image/png", image_manifest)
    with pytest.raises(PayloadTooLarge, match="instance|pixels"):
        decode(
            json.dumps({"instances": [{"b64": base64.b64encode(body).decode()}]}).encode(),
            "application/json",
            image_manifest,
        )


def _rows_bodies(manifest, rows: int) -> list[tuple[str, bytes]]:
    if manifest.is_image:
        return [
            ("application/json", json.dumps({"instances": [[[[0, 0, 0]]]] * rows}).encode()),
            ("application/x-npy", npy_bytes(np.zeros((rows, 1, 1, 3), np.uint8))),
            ("application/x-npy", npy_bytes(np.zeros((rows, 3, 8, 6), np.float32))),
        ]
    features = manifest.input.feature_shape
    return [
        ("application/json", json.dumps({"instances": [np.zeros(features).tolist()] * rows}).encode()),
        ("application/x-npy", npy_bytes(np.zeros((rows, *features), np.float32))),
    ]


@pytest.mark.parametrize("kind", ["image", "audio"])
def test_rows_per_request_are_capped_with_413_naming_the_limit(image_manifest, audio_manifest, kind):
    manifest = image_manifest if kind == "image" else audio_manifest
    for content_type, body in _rows_bodies(manifest, 11):
        with pytest.raises(PayloadTooLarge, match="11 inputs, over the limit of 10 per request .*MAX_ROWS_PER_REQUEST"):
            decode(body, content_type, manifest, max_rows=10)
    for content_type, body in _rows_bodies(manifest, 10):
        assert sum(len(part.array) for part in decode(body, content_type, manifest, max_rows=10)) == 10


def test_merging_instances_copies_each_row_once(image_manifest, monkeypatch):
    calls: list[int] = []
    concatenate = np.concatenate

    def counting(arrays, *args, **kwargs):
        calls.append(len(arrays))
        return concatenate(arrays, *args, **kwargs)

    monkeypatch.setattr(decoding.np, "concatenate", counting)
    body = json.dumps({"instances": [[[[0, 0, 0]]]] * 500}).encode()
    (part,) = decode(body, "application/json", image_manifest)
    assert part.array.shape == (500, 3, 8, 6)
    assert calls == [500]  # one join of all the rows, not 499 joins of a growing batch


def test_only_small_single_files_with_a_cheap_header_decode_on_the_event_loop(image_manifest, audio_manifest):
    limit = 64 * 1024
    small_png = png_bytes(np.zeros((64, 64, 3), np.uint8))
    assert decoding.decodes_inline(small_png, "image/png", image_manifest, limit)
    assert decoding.decodes_inline(
        png_bytes(np.zeros((64, 64, 3), np.uint8), "JPEG"), "image/jpeg", image_manifest, limit
    )
    assert not decoding.decodes_inline(small_png, "image/png", image_manifest, 0)  # 0: every body in a thread
    assert not decoding.decodes_inline(small_png, "image/png", image_manifest, len(small_png) - 1)
    # a few hundred bytes of PNG that inflate to 4 megapixels: the header says so, the body goes to a thread
    bomb = png_bytes(np.zeros((2000, 2000, 3), np.uint8))
    assert len(bomb) < limit and not decoding.decodes_inline(bomb, "image/png", image_manifest, limit)
    assert not decoding.decodes_inline(b"\x89PNG not really", "image/png", image_manifest, limit)
    # bodies that claim many inputs in few bytes never decode inline
    assert not decoding.decodes_inline(
        npy_bytes(np.zeros((1000, 1, 1, 3), np.uint8)), "application/x-npy", image_manifest, limit
    )
    instances = json.dumps({"instances": [[[[0, 0, 0]]]] * 500}).encode()
    assert not decoding.decodes_inline(instances, "application/json", image_manifest, limit)
    # WAV: at the model's rate or a cheap ratio inline; a long resampling filter (44.1 kHz) in a thread
    samples = np.zeros(4000, np.float32)
    for rate, inline in ((8000, True), (16000, True), (48000, True), (4000, True), (2000, False), (44100, False)):
        assert decoding.decodes_inline(wav_bytes(samples, rate), "audio/wav", audio_manifest, limit) is inline, rate
    assert not decoding.decodes_inline(b"RIFF\x00\x00\x00\x00WAVEjunk", "audio/wav", audio_manifest, limit)
    assert not decoding.decodes_inline(small_png, "audio/wav", audio_manifest, limit)


def test_the_wav_header_is_read_past_chunks_before_fmt():
    body = wav_bytes(np.zeros(100, np.float32), 16000)
    # insert a LIST chunk of odd size (padded to even) between the RIFF header and `fmt `
    extra = b"LIST" + (3).to_bytes(4, "little") + b"abc\x00"
    assert decoding._wav_format(body[:12] + extra + body[12:]) == (16000, 1)
