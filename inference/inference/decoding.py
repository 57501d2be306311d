"""Request bodies -> model inputs, chosen by content type from a table per model kind.

Every decoder returns a list of `Part`s: consecutive inputs for one model entry point, as a float32
batch. Predictions come back in the order of the inputs.

Image models (`task: image_classification`, input `(N, 3, H, W)` float32 in [0, 1]):
- `image/png`, `image/jpeg`: one image; converted to RGB and resized to H x W (PIL bilinear).
- `application/x-npy`: uint8 pixels `(h, w, 3)` or `(N, h, w, 3)` (resized like an image if h x w
  differs), or floating model input `(3, H, W)` or `(N, 3, H, W)` (values in [0, 1], else 422).
- `application/json`: `{"instances": [...]}`, each instance `{"b64": "<base64 PNG/JPEG>"}`, a nested
  list of shape `(3, H, W)` (model input) or `(h, w, 3)` (pixels 0..255). When H = W = 3 both read
  alike and the model layout wins.

Audio models (`task: audio_classification`):
- `audio/wav`, `audio/x-wav` (and `audio/wave`): one WAV file of any rate, bit depth and channel
  count, decoded as docs/contracts.md fixes it (inference.audio). Refused (415) by a model that
  takes features only.
- `application/x-npy`: floating waveform `(num_samples,)` or `(N, num_samples)` (mono, values in
  [-1, 1]; beyond +-2 is a 422; at the model's sample rate), or MFCC features `feature_shape` or
  `(N, *feature_shape)`.
- `application/json`: `{"instances": [...]}`, each `{"b64": "<base64 WAV>"}`, a list of
  `num_samples` numbers (waveform) or a nested list of `feature_shape` (features).

A body that cannot be read is a 400; a readable array of the wrong shape, dtype or with non-finite
values is a 422; a request of more inputs than `max_rows` (a server setting) or an image of more
pixels than MAX_IMAGE_PIXELS is a 413, refused before the inputs are decoded.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from inference.artifact import AudioInput, ImageInput, Manifest
from inference.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, WrongShape

IMAGE = "image"
WAVEFORM = "waveform"
FEATURES = "features"

# Values far outside the contract's input ranges are a client's mistake (pixels 0..255 sent as model
# input, int16 samples sent as a waveform), refused rather than answered wrongly. Waveforms get
# headroom: resampling a full-scale WAV overshoots [-1, 1] a little (the server's own WAV path too).
MODEL_IMAGE_RANGE = (0.0, 1.0)
WAVEFORM_RANGE = (-2.0, 2.0)

# A 6 MB PNG can inflate to gigabytes; refuse images above this many pixels (a 25 MP photo, 75 MB
# decoded) before decoding them.
MAX_IMAGE_PIXELS = 25_000_000


@dataclass
class Part:
    """Consecutive inputs for one model entry point: `array` is a float32 batch `(n, ...)`."""

    entry: str
    array: np.ndarray


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _float32(array: np.ndarray, what: str, bounds: tuple[float, float] | None = None) -> np.ndarray:
    """float32 values, finite after the cast, and inside `bounds` where the contract fixes a range."""
    with np.errstate(over="ignore", invalid="ignore"):
        array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise WrongShape(f"{what} holds non-finite values (NaN, infinity or beyond float32)")
    if bounds is not None and array.size and (array.min() < bounds[0] or array.max() > bounds[1]):
        raise WrongShape(f"{what} holds values outside [{bounds[0]:g}, {bounds[1]:g}], the model's input range")
    return array


# --- images -------------------------------------------------------------------------------------


def _resize_pixels(image: Any, spec: ImageInput) -> np.ndarray:
    from PIL import Image

    if image.size != (spec.width, spec.height):
        image = image.resize((spec.width, spec.height), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.uint8)
    return (pixels.astype(np.float32) / 255.0).transpose(2, 0, 1)


def image_bytes_to_input(body: bytes, spec: ImageInput) -> np.ndarray:
    """A PNG/JPEG file -> float32 `(3, H, W)` in [0, 1]."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(body), formats=["PNG", "JPEG"]) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise PayloadTooLarge(f"image is {width}x{height}, over {MAX_IMAGE_PIXELS} pixels")
            image.load()
            return _resize_pixels(image.convert("RGB"), spec)
    except UnidentifiedImageError:
        raise BadRequest("body is not a PNG or JPEG image") from None
    except Image.DecompressionBombError:  # Pillow refuses over ~179 MP while opening, before our check
        raise PayloadTooLarge(f"image is over {MAX_IMAGE_PIXELS} pixels") from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise BadRequest(f"image cannot be decoded: {error}") from None


def pixels_to_input(pixels: np.ndarray, spec: ImageInput) -> np.ndarray:
    """uint8 pixels `(h, w, 3)` -> float32 `(3, H, W)`, resized like a decoded image."""
    from PIL import Image

    if pixels.shape[0] * pixels.shape[1] > MAX_IMAGE_PIXELS:
        raise PayloadTooLarge(f"pixel array {pixels.shape} is over {MAX_IMAGE_PIXELS} pixels")
    return _resize_pixels(Image.fromarray(np.ascontiguousarray(pixels)), spec)


def _image_shapes(spec: ImageInput) -> str:
    return (
        f"uint8 pixels (h, w, 3) or (N, h, w, 3), or float model input (3, {spec.height}, "
        f"{spec.width}) or (N, 3, {spec.height}, {spec.width})"
    )


def check_rows(rows: int, max_rows: int) -> None:
    """413 for a request of more inputs than the server takes in one request."""
    if rows > max_rows:
        raise PayloadTooLarge(
            f"the request holds {rows} inputs, over the limit of {max_rows} per request "
            "(INFERENCE_MAX_ROWS_PER_REQUEST); split it into several requests"
        )


def _image_array(array: np.ndarray, spec: ImageInput, max_rows: int) -> np.ndarray:
    model_shape = (3, spec.height, spec.width)
    if array.dtype == np.uint8 and array.ndim in (3, 4) and array.shape[-1] == 3 and min(array.shape) > 0:
        batch = array[None] if array.ndim == 3 else array
        check_rows(len(batch), max_rows)
        return np.stack([pixels_to_input(p, spec) for p in batch])
    if np.issubdtype(array.dtype, np.floating) and array.ndim in (3, 4) and array.shape[-3:] == model_shape:
        batch = array[None] if array.ndim == 3 else array
        check_rows(len(batch), max_rows)
        if batch.shape[0] == 0:
            raise WrongShape("the batch is empty")
        return _float32(batch, "the array", MODEL_IMAGE_RANGE)
    raise WrongShape(f"array of dtype {array.dtype} and shape {array.shape} does not fit; send " + _image_shapes(spec))


def _image_instance(value: Any, spec: ImageInput, index: int) -> Part:
    if isinstance(value, dict):
        return Part(IMAGE, image_bytes_to_input(_b64(value, index), spec)[None])
    array = _numeric(value, index)
    if array.shape == (3, spec.height, spec.width):
        return Part(IMAGE, _float32(array, f"instance {index}", MODEL_IMAGE_RANGE)[None])
    if array.ndim == 3 and array.shape[-1] == 3 and min(array.shape) > 0:
        if array.min() < 0 or array.max() > 255:
            raise WrongShape(f"instance {index}: pixel values must lie in 0..255")
        return Part(IMAGE, pixels_to_input(np.rint(array).astype(np.uint8), spec)[None])
    raise WrongShape(
        f"instance {index}: shape {array.shape} does not fit; send (3, {spec.height}, "
        f'{spec.width}) model input, (h, w, 3) pixels or {{"b64": ...}}'
    )


# --- audio --------------------------------------------------------------------------------------


def _waveform_entry(spec: AudioInput) -> str:
    if spec.waveform_signature is None:
        raise WrongShape(f"this model takes MFCC features {list(spec.feature_shape)} only, not waveforms")
    return WAVEFORM


def _audio_shapes(spec: AudioInput) -> str:
    shapes = f"features {tuple(spec.feature_shape)} or (N, {', '.join(map(str, spec.feature_shape))})"
    if spec.waveform_signature is not None:
        shapes = f"waveform ({spec.num_samples},) or (N, {spec.num_samples}), or " + shapes
    return shapes


def _audio_array(array: np.ndarray, spec: AudioInput, max_rows: int) -> Part:
    if not np.issubdtype(array.dtype, np.floating):
        raise WrongShape(f"array dtype {array.dtype} is not supported; send float32 " + _audio_shapes(spec))
    features = tuple(spec.feature_shape)
    if array.shape == features:
        entry, batch = FEATURES, array[None]
    elif array.shape[1:] == features and array.ndim == len(features) + 1:
        entry, batch = FEATURES, array
    elif array.ndim == 1 and array.shape[0] == spec.num_samples:
        entry, batch = _waveform_entry(spec), array[None]
    elif array.ndim == 2 and array.shape[1] == spec.num_samples:
        entry, batch = _waveform_entry(spec), array
    else:
        raise WrongShape(f"array of shape {array.shape} does not fit; send " + _audio_shapes(spec))
    check_rows(len(batch), max_rows)
    if batch.shape[0] == 0:
        raise WrongShape("the batch is empty")
    bounds = WAVEFORM_RANGE if entry == WAVEFORM else None
    return Part(entry, _float32(batch, "the array", bounds))


def _wav_input(body: bytes, spec: AudioInput) -> Part:
    # Imported here: inference.audio needs scipy, which only the TensorFlow (audio) serving image holds;
    # an audio model's server imports it while it loads (served.ServedModel.load), not on its first request.
    from inference.audio import decode_wav

    rate, samples = spec.sample_rate, spec.num_samples
    assert rate is not None and samples is not None  # a waveform model's manifest names both (inference.artifact)
    return Part(_waveform_entry(spec), decode_wav(body, rate, samples)[None])


def _audio_instance(value: Any, spec: AudioInput, index: int) -> Part:
    if isinstance(value, dict):
        try:
            return _wav_input(_b64(value, index), spec)
        except (BadRequest, WrongShape) as error:
            raise type(error)(f"instance {index}: {error.message}") from None
    array = _numeric(value, index)
    if array.shape == tuple(spec.feature_shape):
        return Part(FEATURES, _float32(array, f"instance {index}")[None])
    if array.ndim == 1 and array.shape[0] == spec.num_samples:
        try:
            entry = _waveform_entry(spec)
            return Part(entry, _float32(array, f"instance {index}", WAVEFORM_RANGE)[None])
        except WrongShape as error:
            raise WrongShape(f"instance {index}: {error.message}") from None
    one = f"features {tuple(spec.feature_shape)}"
    if spec.waveform_signature is not None:
        one = f"a waveform ({spec.num_samples},) or " + one
    raise WrongShape(f"instance {index}: shape {array.shape} does not fit; one instance is " + one)


# --- shared -------------------------------------------------------------------------------------


def _b64(value: dict[str, Any], index: int) -> bytes:
    if set(value) != {"b64"} or not isinstance(value["b64"], str):
        raise BadRequest(f'instance {index}: an object instance must be {{"b64": "<base64 file>"}}')
    try:
        return base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, ValueError) as error:
        raise BadRequest(f"instance {index}: b64 is not valid base64 ({error})") from None


def _numeric(value: Any, index: int) -> np.ndarray:
    if not isinstance(value, list):
        raise WrongShape(
            f'instance {index}: expected a nested list of numbers or {{"b64": ...}}, found {type(value).__name__}'
        )
    try:
        array = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError, OverflowError) as error:
        raise WrongShape(f"instance {index}: not a rectangular array of numbers ({error})") from None
    if not np.isfinite(array).all():
        raise WrongShape(f"instance {index} holds non-finite values (NaN or infinity)")
    return array


def _load_npy(body: bytes) -> np.ndarray:
    try:
        array = np.load(io.BytesIO(body), allow_pickle=False)
    except Exception as error:  # numpy raises ValueError, EOFError, OSError, ... on bad files
        raise BadRequest(f"body is not a readable .npy array: {error}") from None
    if not isinstance(array, np.ndarray):
        raise BadRequest("body is an .npz archive; send one .npy array")
    if array.dtype.kind not in "uif":
        raise WrongShape(f"array dtype {array.dtype} is not numeric")
    return array


def _load_instances(body: bytes, max_rows: int) -> list[Any]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and big ints are ValueErrors
        raise BadRequest(f"body is not valid JSON: {str(error)[:200]}") from None
    if not isinstance(document, dict) or not isinstance(document.get("instances"), list):
        raise BadRequest('JSON body must be an object {"instances": [...]}')
    if not document["instances"]:
        raise WrongShape('"instances" is empty')
    check_rows(len(document["instances"]), max_rows)
    return document["instances"]


def merge(parts: list[Part]) -> list[Part]:
    """Join consecutive parts for the same entry point into one batch, each row copied once (linear
    in the rows: joining pairwise would copy the growing batch once per part)."""
    runs: list[list[Part]] = []
    for part in parts:
        if runs and runs[-1][0].entry == part.entry:
            runs[-1].append(part)
        else:
            runs.append([part])
    return [
        run[0] if len(run) == 1 else Part(run[0].entry, np.concatenate([part.array for part in run])) for run in runs
    ]


Decoder = Callable[[bytes, Any, int], list[Part]]

IMAGE_DECODERS: dict[str, Decoder] = {
    "image/png": lambda body, spec, rows: [Part(IMAGE, image_bytes_to_input(body, spec)[None])],
    "image/jpeg": lambda body, spec, rows: [Part(IMAGE, image_bytes_to_input(body, spec)[None])],
    "application/x-npy": lambda body, spec, rows: [Part(IMAGE, _image_array(_load_npy(body), spec, rows))],
    "application/json": lambda body, spec, rows: merge(
        [_image_instance(v, spec, i) for i, v in enumerate(_load_instances(body, rows))]
    ),
}

AUDIO_DECODERS: dict[str, Decoder] = {
    "audio/wav": lambda body, spec, rows: [_wav_input(body, spec)],
    "audio/x-wav": lambda body, spec, rows: [_wav_input(body, spec)],
    "audio/wave": lambda body, spec, rows: [_wav_input(body, spec)],
    "application/x-npy": lambda body, spec, rows: [_audio_array(_load_npy(body), spec, rows)],
    "application/json": lambda body, spec, rows: merge(
        [_audio_instance(v, spec, i) for i, v in enumerate(_load_instances(body, rows))]
    ),
}

WAV_TYPES = ("audio/wav", "audio/x-wav", "audio/wave")


def accepted_types(manifest: Manifest) -> list[str]:
    if manifest.is_image:
        return list(IMAGE_DECODERS)
    types = list(AUDIO_DECODERS)
    if manifest.audio.waveform_signature is None:
        types = [t for t in types if t not in WAV_TYPES]
    return types


def check_content_type(content_type: str | None, manifest: Manifest) -> str:
    """The media type, or a 415 naming the accepted ones."""
    kind = media_type(content_type)
    if kind not in accepted_types(manifest):
        raise UnsupportedMediaType(
            f"content type {kind or '(none)'!r} is not accepted by this "
            f"{manifest.task} model; send one of {', '.join(accepted_types(manifest))}"
        )
    return kind


DEFAULT_MAX_ROWS = 1024

# What a body must be to be decoded on the event loop (app.invocations), where its cost is paid by
# every request in flight: one image of at most this many pixels (its header says so before it is
# decoded: a small PNG can inflate to gigapixels), or one WAV whose resampling stays cheap: upsampled
# at most INLINE_MAX_UP times (the output grows with it) and downsampled at most INLINE_MAX_DOWN times
# (8, 16, 48 kHz -> 8 kHz are 1/1, 1/2, 1/6; 44.1 kHz -> 8 kHz is 80/441, a ~9,000-tap filter: off the
# loop). JSON and .npy bodies claim any number of inputs in few bytes: always off the loop.
# benchmarks/results/serve_profile.md measures the slowest body these bounds let onto the loop.
INLINE_MAX_PIXELS = 256 * 256
INLINE_MAX_UP = 2
INLINE_MAX_DOWN = 16
IMAGE_TYPES = ("image/png", "image/jpeg")


def _wav_format(body: bytes) -> tuple[int, int] | None:
    """(sample rate, channels) from a RIFF/WAVE header's `fmt ` chunk, or None when there is none."""
    if len(body) < 12 or body[:4] != b"RIFF" or body[8:12] != b"WAVE":
        return None
    offset = 12
    while offset + 8 <= len(body):
        chunk, size = body[offset : offset + 4], int.from_bytes(body[offset + 4 : offset + 8], "little")
        if chunk == b"fmt ":
            if offset + 16 > len(body):
                return None
            channels = int.from_bytes(body[offset + 10 : offset + 12], "little")
            return int.from_bytes(body[offset + 12 : offset + 16], "little"), channels
        offset += 8 + size + (size & 1)  # chunks are padded to an even size
    return None


def decodes_inline(body: bytes, content_type: str | None, manifest: Manifest, limit: int) -> bool:
    """Whether decoding `body` costs little enough, whatever it holds, to run on the event loop: one
    PNG/JPEG or WAV of at most `limit` bytes whose header promises a small decode. Anything else, an
    unreadable header included, decodes in a thread (where its error, if any, is raised)."""
    if len(body) > limit or not body:
        return False
    kind = media_type(content_type)
    if manifest.is_image and kind in IMAGE_TYPES:
        from PIL import Image

        try:
            with Image.open(io.BytesIO(body), formats=["PNG", "JPEG"]) as image:  # reads the header only
                width, height = image.size
        except Exception:  # anything Pillow refuses: the thread's decode answers it
            return False
        return width * height <= INLINE_MAX_PIXELS
    if not manifest.is_image and kind in WAV_TYPES:
        header = _wav_format(body)
        if header is None:
            return False
        rate, channels = header
        target = manifest.audio.sample_rate
        if target is None or rate <= 0 or not 1 <= channels <= 8:
            return False
        divisor = math.gcd(rate, target)
        return target // divisor <= INLINE_MAX_UP and rate // divisor <= INLINE_MAX_DOWN
    return False


def decode(body: bytes, content_type: str | None, manifest: Manifest, max_rows: int = DEFAULT_MAX_ROWS) -> list[Part]:
    """Decode a request body into at most `max_rows` model inputs; raises a RequestError for anything
    a client got wrong."""
    kind = check_content_type(content_type, manifest)
    if not body:
        raise BadRequest("the request body is empty")
    decoders = IMAGE_DECODERS if manifest.is_image else AUDIO_DECODERS
    return decoders[kind](body, manifest.input, max_rows)
