"""WAV decoding as docs/contracts.md fixes it: scaling per type, downmix, resample_poly, centre crop/pad."""

from __future__ import annotations

import io

import numpy as np
import pytest
from inference.audio import decode_wav, fit_length
from inference.errors import BadRequest, WrongShape
from scipy.signal import resample_poly


def wav(samples: np.ndarray, rate: int) -> bytes:
    from scipy.io import wavfile

    buffer = io.BytesIO()
    wavfile.write(buffer, rate, samples)
    return buffer.getvalue()


def pcm24(samples: np.ndarray, rate: int) -> bytes:
    """A 24-bit mono PCM file written by hand (scipy cannot write 24-bit)."""
    data = b"".join(int(s).to_bytes(3, "little", signed=True) for s in samples)
    fmt = (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + rate.to_bytes(4, "little")
    fmt += (rate * 3).to_bytes(4, "little") + (3).to_bytes(2, "little") + (24).to_bytes(2, "little")
    chunks = b"fmt " + len(fmt).to_bytes(4, "little") + fmt + b"data" + len(data).to_bytes(4, "little") + data
    return b"RIFF" + (4 + len(chunks)).to_bytes(4, "little") + b"WAVE" + chunks


def test_int16_is_scaled_by_32768_and_passes_through_at_the_model_rate():
    samples = np.array([0, 16384, -32768, 32767, -1], np.int16)
    out = decode_wav(wav(samples, 8000), 8000, 5)
    assert out.dtype == np.float32
    assert out.tolist() == pytest.approx([0, 0.5, -1, 32767 / 32768, -1 / 32768])


def test_uint8_is_centred_on_128():
    samples = np.array([128, 255, 0, 192], np.uint8)
    assert decode_wav(wav(samples, 8000), 8000, 4).tolist() == pytest.approx([0, 127 / 128, -1, 0.5])


def test_int32_and_24_bit_use_their_full_scale():
    samples = np.array([2**30, -(2**31)], np.int32)
    assert decode_wav(wav(samples, 8000), 8000, 2).tolist() == pytest.approx([0.5, -1])
    assert decode_wav(pcm24(np.array([2**22, -(2**23), 0]), 8000), 8000, 3).tolist() == pytest.approx([0.5, -1, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_wav_is_taken_as_is(dtype):
    samples = np.linspace(-0.9, 0.9, 50).astype(dtype)
    assert decode_wav(wav(samples, 8000), 8000, 50) == pytest.approx(samples.astype(np.float32), abs=1e-7)


def test_stereo_44k1_is_downmixed_by_the_mean_then_resampled_with_resample_poly():
    rate, seconds = 44100, 1.5
    t = np.arange(int(rate * seconds)) / rate
    left = (0.6 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    right = (0.3 * np.sin(2 * np.pi * 1000 * t) * 32767).astype(np.int16)
    out = decode_wav(wav(np.stack([left, right], axis=1), rate), 8000, 8000)
    mono = (left.astype(np.float32) / 32768 + right.astype(np.float32) / 32768) / 2
    expected = resample_poly(mono, 80, 441)  # 8000/44100 reduced by the gcd (100)
    assert len(expected) == 12000
    assert out == pytest.approx(expected[2000:10000].astype(np.float32), abs=1e-6)  # the centre 8000


def test_short_clip_is_padded_equally_with_the_extra_sample_at_the_end():
    samples = np.ones(5, np.float32)
    out = decode_wav(wav(samples, 8000), 8000, 10)
    assert out.tolist() == [0, 0, 1, 1, 1, 1, 1, 0, 0, 0]
    assert fit_length(np.arange(10), 4).tolist() == [3, 4, 5, 6]
    assert fit_length(np.arange(11), 4).tolist() == [3, 4, 5, 6]


def test_upsampling_from_4k():
    samples = (np.sin(np.arange(4000) / 7) * 0.5).astype(np.float32)
    out = decode_wav(wav(samples, 4000), 8000, 8000)
    assert out == pytest.approx(resample_poly(samples, 2, 1).astype(np.float32), abs=1e-6)


@pytest.mark.parametrize("body", [b"", b"RIFF", b"RIFF\x00\x00\x00\x00WAVEfmt ", b"not a wav at all" * 10])
def test_unreadable_files_are_400(body):
    with pytest.raises(BadRequest, match="WAV"):
        decode_wav(body, 8000, 8000)


def test_unreasonable_files_are_422():
    good = wav(np.zeros(100, np.int16), 8000)
    with pytest.raises(WrongShape, match="sample rate"):
        decode_wav(good[:24] + (1).to_bytes(4, "little") + (2).to_bytes(4, "little") + good[32:], 8000, 8000)
    with pytest.raises(WrongShape, match="ratio"):  # 767999 Hz has no common factor with 8000 Hz
        decode_wav(wav(np.zeros(100, np.int16), 767999), 8000, 8000)
    with pytest.raises(WrongShape, match="longer than"):
        decode_wav(wav(np.zeros(601 * 1000, np.uint8), 1000), 8000, 8000)
    with pytest.raises(WrongShape, match="no samples"):
        decode_wav(wav(np.zeros((0,), np.int16), 8000), 8000, 8000)
    with pytest.raises(WrongShape, match="non-finite"):
        decode_wav(wav(np.array([0.0, np.nan], np.float32), 8000), 8000, 8000)
