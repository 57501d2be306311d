"""Small files whose headers claim huge sizes or rates: what a careless or hostile user can send."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image
from scipy.io import wavfile


def png_claiming(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose header (IHDR, CRC fixed) claims `width` x `height` pixels: a few dozen
    bytes that a decoder would inflate to width * height * 3 bytes."""
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def wav_claiming_rate(rate: int, samples: int = 800) -> bytes:
    """A 16-bit mono WAV whose header claims `rate` Hz (and the matching byte rate)."""
    buffer = io.BytesIO()
    wavfile.write(buffer, 8000, np.zeros(samples, dtype=np.int16))
    data = bytearray(buffer.getvalue())
    assert data[12:16] == b"fmt "
    data[24:32] = struct.pack("<II", rate, (rate * 2) & 0xFFFFFFFF)
    return bytes(data)
