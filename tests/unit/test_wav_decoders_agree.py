"""Training's and the server's WAV decoders refuse the same corrupt files with their own clear error, so a
file that the server refuses is one `on_bad_file=skip` skips in training (never a bare traceback)."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from inference.audio import decode_wav as serve_decode
from inference.errors import BadRequest, WrongShape
from scipy.io import wavfile
from training.data.audio import AudioSettings, load_wav_folder
from training.data.audio import decode_wav as train_decode
from training.errors import DataError


def _good() -> bytes:
    buffer = io.BytesIO()
    wavfile.write(buffer, 8000, (np.sin(np.arange(800) / 3) * 3000).astype(np.int16))
    return buffer.getvalue()


GOOD = _good()
# What scipy raises differs per corruption: ValueError, struct.error, ZeroDivisionError.
CORRUPT = {
    "empty": b"",
    "riff-only": b"RIFF",
    "cut-in-fmt": GOOD[:20],
    "cut-before-data-size": GOOD[:40],
    "zero-channels": GOOD[:22] + struct.pack("<H", 0) + GOOD[24:],
    "zero-block-align": GOOD[:32] + struct.pack("<H", 0) + GOOD[34:],
    "odd-data": GOOD[:45],
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_both_decoders_refuse_with_their_own_error(tmp_path, name):
    path = tmp_path / f"{name}.wav"
    path.write_bytes(CORRUPT[name])
    with pytest.raises(DataError, match=name):  # the message names the file
        train_decode(path)
    with pytest.raises((BadRequest, WrongShape)):
        serve_decode(CORRUPT[name], 8000, 800)


def test_skip_skips_every_corrupt_file(tmp_path):
    for label in ("a", "b"):
        folder = tmp_path / "train" / label
        folder.mkdir(parents=True)
        (folder / "good.wav").write_bytes(GOOD)
        for name, body in CORRUPT.items():
            (folder / f"{name}.wav").write_bytes(body)
    dataset = load_wav_folder(tmp_path / "train", AudioSettings(8000, 800, on_bad_file="skip"))
    assert dataset.skipped == 2 * len(CORRUPT) and len(dataset.inputs) == 2
