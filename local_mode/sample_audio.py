"""Sample audio: spoken-digit-like WAV files synthesized here, in Free-Spoken-Digit naming.

Not speech. Each digit is a fixed sequence of segments loosely modelled on how the English word
sounds: voiced stretches whose two formants glide between vowel targets, nasals, fricative noise
bands and stop bursts. A source-filter synthesizer (harmonics of a pitch contour shaped by formant
resonances, plus band-passed noise) renders it per "speaker" (pitch, vocal-tract scale, speaking
rate, breathiness) with per-utterance jitter and background noise. The classes are as separable as
the recipe makes them; a model trained here says nothing about real recordings.

Files are `<digit>_<speaker>_<index>.wav`, 8 kHz, 16-bit mono, 0.6 to 0.9 s, as in the
Free Spoken Digit Dataset. One speaker is written to `held_out/` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.io import wavfile
from scipy.signal import butter, sosfilt

from local_mode.samples import Sample

RATE = 8000
NYQUIST_MARGIN_HZ = 3900.0
# Segments: ("v", ms, (F1, F2) start, (F1, F2) end) voiced; ("m", ms, F1, F2) nasal;
# ("n", ms, low Hz, high Hz, level) noise; ("s", ms) silence (a stop's closure).
DIGITS: dict[int, list[tuple]] = {
    0: [
        ("n", 90, 3000, 3900, 0.30),
        ("v", 100, (270, 2290), (280, 2200)),
        ("v", 90, (490, 1350), (490, 1300)),
        ("v", 150, (500, 1000), (450, 850)),
    ],
    1: [("v", 90, (300, 700), (320, 760)), ("v", 170, (640, 1190), (600, 1200)), ("m", 110, 250, 1000)],
    2: [("s", 30), ("n", 30, 2500, 3900, 0.50), ("v", 230, (320, 1400), (300, 870))],
    3: [("n", 90, 1500, 3900, 0.12), ("v", 80, (490, 1350), (480, 1300)), ("v", 200, (300, 2200), (270, 2290))],
    4: [("n", 100, 1000, 3900, 0.15), ("v", 150, (570, 840), (560, 900)), ("v", 120, (490, 1350), (470, 1300))],
    5: [("n", 90, 1000, 3900, 0.15), ("v", 220, (730, 1090), (300, 2200)), ("n", 60, 800, 3000, 0.08)],
    6: [
        ("n", 110, 3000, 3900, 0.35),
        ("v", 120, (390, 1990), (400, 1900)),
        ("s", 40),
        ("n", 30, 1500, 3000, 0.40),
        ("n", 90, 3000, 3900, 0.30),
    ],
    7: [
        ("n", 100, 3000, 3900, 0.30),
        ("v", 110, (530, 1840), (520, 1750)),
        ("n", 40, 800, 3000, 0.08),
        ("v", 100, (500, 1500), (480, 1450)),
        ("m", 90, 250, 1200),
    ],
    8: [("v", 220, (530, 1840), (300, 2250)), ("s", 40), ("n", 40, 2500, 3900, 0.40)],
    9: [("m", 80, 250, 1100), ("v", 200, (730, 1090), (300, 2200)), ("m", 110, 250, 1100)],
}


@dataclass(frozen=True)
class Voice:
    pitch_hz: float
    formant_scale: float
    rate: float  # > 1 speaks faster
    breathiness: float


def voice_for(speaker: str) -> Voice:
    """A speaker's voice, derived from the name so any list of speakers gets distinct, stable voices."""
    rng = np.random.default_rng(list(speaker.encode()))
    return Voice(
        pitch_hz=float(rng.uniform(100, 240)),
        formant_scale=float(rng.uniform(0.92, 1.15)),
        rate=float(rng.uniform(0.85, 1.15)),
        breathiness=float(rng.uniform(0.01, 0.05)),
    )


def _smooth(envelope: np.ndarray, ms: float = 12.0) -> np.ndarray:
    window = np.hanning(max(3, int(RATE * ms / 1000)))
    return np.convolve(envelope, window / window.sum(), mode="same")


def _timeline(digit: int, voice: Voice, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-sample voicing amplitude, formant tracks and a list of noise bursts for one utterance."""
    speed = voice.rate * rng.uniform(0.9, 1.1)
    scale = voice.formant_scale * rng.uniform(0.96, 1.04)
    voiced, f1, f2, noise = [], [], [], []
    start = 0
    for segment in DIGITS[digit]:
        n = int(RATE * segment[1] / 1000 / speed * rng.uniform(0.9, 1.1))
        if segment[0] == "v":
            (a1, a2), (b1, b2) = segment[2], segment[3]
            voiced.append(np.ones(n))
            f1.append(np.linspace(a1, b1, n) * scale)
            f2.append(np.linspace(a2, b2, n) * scale)
        elif segment[0] == "m":
            voiced.append(np.full(n, 0.35))
            f1.append(np.full(n, segment[2] * scale))
            f2.append(np.full(n, segment[3] * scale))
        else:
            voiced.append(np.zeros(n))
            last1 = f1[-1][-1] if f1 else 500.0 * scale
            last2 = f2[-1][-1] if f2 else 1500.0 * scale
            f1.append(np.full(n, last1))
            f2.append(np.full(n, last2))
            if segment[0] == "n":
                noise.append((start, n, segment[2], segment[3], segment[4]))
        start += n
    return {
        "voiced": _smooth(np.concatenate(voiced)),
        "f1": np.concatenate(f1),
        "f2": np.concatenate(f2),
        "scale": np.asarray(scale),
        "noise": np.asarray(noise, dtype=float).reshape(-1, 5),
    }


def _voicing(timeline: dict[str, np.ndarray], voice: Voice, rng: np.random.Generator) -> np.ndarray:
    n = len(timeline["voiced"])
    t = np.arange(n) / RATE
    base = voice.pitch_hz * rng.uniform(0.92, 1.08)
    f0 = base * np.linspace(1.05, 0.88, n) * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
    harmonics = np.arange(1, int(NYQUIST_MARGIN_HZ / f0.min()) + 1)[:, None]
    freqs = harmonics * f0[None, :]
    phases = 2 * np.pi * np.cumsum(freqs, axis=1) / RATE
    f3 = 2500.0 * float(timeline["scale"])
    gain = np.zeros_like(freqs)
    for formant, amplitude, bandwidth in (
        (timeline["f1"], 1.0, 90.0),
        (timeline["f2"], 0.6, 130.0),
        (np.full(n, f3), 0.25, 200.0),
    ):
        gain += amplitude / (1.0 + ((freqs - formant[None, :]) / bandwidth) ** 2)
    gain *= (freqs < NYQUIST_MARGIN_HZ) / np.sqrt(harmonics)
    wave = (gain * np.sin(phases)).sum(axis=0)
    return wave / (np.abs(wave).max() + 1e-9) * timeline["voiced"]


def _noise(timeline: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(len(timeline["voiced"]))
    for start, n, low, high, level in timeline["noise"]:
        start, n = int(start), int(n)
        sos = butter(4, [low / (RATE / 2), min(high, NYQUIST_MARGIN_HZ) / (RATE / 2)], btype="band", output="sos")
        burst = sosfilt(sos, rng.normal(0, 1, n + 200))[200:]
        envelope = np.zeros(len(out))
        envelope[start : start + n] = 1.0
        out += level * 3.0 * _smooth(envelope, 8.0) * np.pad(burst, (start, len(out) - start - n))
    return out


def synthesize(digit: int, voice: Voice, rng: np.random.Generator) -> np.ndarray:
    """One utterance of `digit` in `voice`, placed in a 0.6 to 0.9 s clip: float32 in [-1, 1]."""
    timeline = _timeline(digit, voice, rng)
    speech = _voicing(timeline, voice, rng) + _noise(timeline, rng)
    speech += voice.breathiness * rng.normal(0, 1, len(speech)) * timeline["voiced"]
    clip = np.zeros(max(int(RATE * rng.uniform(0.6, 0.9)), len(speech) + 80))
    offset = int(rng.integers(0, len(clip) - len(speech) + 1))
    clip[offset : offset + len(speech)] = speech / (np.abs(speech).max() + 1e-9) * rng.uniform(0.3, 0.8)
    clip += rng.normal(0, rng.uniform(0.002, 0.01), len(clip))
    return np.clip(clip, -1, 1).astype(np.float32)


def write_spoken_digits(
    root: Path, *, speakers: tuple[str, ...], held_out_speaker: str, per_digit: int, seed: int = 0
) -> tuple[Path, Path, list[Sample]]:
    """Write `root/train/*.wav` and `root/held_out/*.wav` (FSDD naming); returns both folders and held-out samples."""
    held_out_samples: list[Sample] = []
    for speaker_index, speaker in enumerate(speakers):
        voice = voice_for(speaker)
        split = "held_out" if speaker == held_out_speaker else "train"
        (root / split).mkdir(parents=True, exist_ok=True)
        for digit in DIGITS:
            for index in range(per_digit):
                rng = np.random.default_rng([seed, speaker_index, digit, index])
                path = root / split / f"{digit}_{speaker}_{index}.wav"
                wavfile.write(path, RATE, (synthesize(digit, voice, rng) * 32767).astype(np.int16))
                if split == "held_out":
                    held_out_samples.append(Sample(path, str(digit)))
    return root / "train", root / "held_out", held_out_samples
