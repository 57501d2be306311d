"""Synthetic speakers: say class words in many text-to-speech voices, as training data for the audio model.

    python -m training.synthesize --words zero,one,two --labels 0,1,2 --out DIR [--speakers 240] [--takes 3]

A model trained on the three or four voices of a small corpus learns those voices, not the words.
This data-preparation step (run before the training job; its output is the job's `synthetic`
channel) says every word in many synthetic voices from Debian's text-to-speech engines
(`apt-get install espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts`):
- espeak-ng: English accents x voice variants (`en-us+m3`, `en-gb-scotland+f2`, ...), pitch and rate;
- flite: its built-in voices, mean F0 and duration stretch;
- festival: the installed festvox voices, duration stretch.
Each synthetic speaker gets one draw of those settings plus a vocal-tract length factor (the
waveform is read at `factor` times its rate, which scales formants and pitch together, like a
shorter or longer vocal tract) and a room (exponentially decaying reverberation and coloured
background noise). Each take of a word jitters rate and room noise. Clips are trimmed to the spoken
stretch and resampled to `--sample-rate`.

Output: `<out>/<label>/<label>_<speaker>_<take>.wav` (class folders: any label text; the file names
name the speaker for speaker-aware splits) and `<out>/synthesis.json`, the manifest of the words,
engines and every speaker's settings. Any labels that are spoken words work: nothing here knows digits.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy.io import wavfile
from scipy.signal import fftconvolve, lfilter

from training.data.audio import decode_wav, resample
from training.errors import DataError

log = logging.getLogger(__name__)
MANIFEST = "synthesis.json"
ENGINES = ("espeak-ng", "flite", "festival")
# Debian package that provides each engine and its voices (what a training image needs).
APT_PACKAGES = {
    "espeak-ng": ["espeak-ng"],
    "flite": ["flite"],
    "festival": ["festival", "festvox-kallpc16k", "festvox-kdlpc16k", "festvox-us-slt-hts"],
}
ESPEAK_ACCENTS = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-029",
    "en-us-nyc",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
)
# espeak-ng voice variants with a voiced source (whisper and croak variants left out).
ESPEAK_VARIANTS = (
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "klatt",
    "klatt2",
    "klatt3",
    "klatt4",
    "adam",
    "andy",
    "annie",
    "anika",
    "aunty",
    "boris",
    "david",
    "edward",
    "gene",
    "iven",
    "john",
    "linda",
    "max",
    "michel",
    "norbert",
    "paul",
    "rob",
    "robert",
    "steph",
    "travis",
    "victor",
    "zac",
)
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
FESTIVAL_VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
SAFE_NAME = re.compile(r"[^A-Za-z0-9.-]+")


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: an engine's voice and the settings every take of every word shares."""

    id: str
    engine: str
    voice: str
    pitch: float  # espeak-ng: 0-99; flite: mean F0 in Hz; festival: unused (0)
    rate: float  # espeak-ng: words per minute; flite and festival: duration stretch (1 = the voice's own)
    vocal_tract: float  # formant (and pitch) scale: >1 a shorter vocal tract
    rt60_s: float  # reverberation time of the room
    wet: float  # reverberant share of the signal
    noise_snr_db: float  # background noise below the clip's power
    noise_tilt: float  # noise colour: 0 white .. 0.95 strongly low-pass (room rumble)


@dataclass(frozen=True)
class SynthesisSettings:
    words: tuple[str, ...]
    labels: tuple[str, ...]
    out: Path
    speakers: int = 240
    takes: int = 3
    sample_rate: int = 8000
    seed: int = 0
    engines: tuple[str, ...] = ENGINES
    rate_jitter: float = 0.08
    extra: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.words:
            raise DataError("--words: give at least two comma-separated words")
        if len(self.words) != len(self.labels):
            raise DataError(f"--labels: {len(self.labels)} labels for {len(self.words)} words; give one per word")
        if len(set(self.labels)) != len(self.labels) or len(self.labels) < 2:
            raise DataError(f"--labels: need at least two distinct labels, got {', '.join(self.labels)}")
        for label in self.labels:
            if not label or label.startswith(".") or "/" in label:
                raise DataError(f"--labels: {label!r} cannot be a folder name")
        unknown = sorted(set(self.engines) - set(ENGINES))
        if unknown:
            raise DataError(f"--engines: unknown {', '.join(unknown)}; known: {', '.join(ENGINES)}")
        if self.speakers < 1 or self.takes < 1:
            raise DataError("--speakers and --takes must be at least 1")
        if self.sample_rate < 4000:
            raise DataError(f"--sample-rate must be at least 4000 Hz, got {self.sample_rate}")


def available_engines(wanted: Sequence[str] = ENGINES) -> list[str]:
    """The wanted engines whose programs are on PATH (festival synthesizes through `festival` itself)."""
    return [e for e in wanted if shutil.which(e)]


def _speaker_id(index: int, engine: str, voice: str) -> str:
    short = {"espeak-ng": "esp", "flite": "fli", "festival": "fes"}[engine]
    return SAFE_NAME.sub("-", f"{short}{index:03d}-{voice}").replace("_", "-")


def draw_speakers(count: int, engines: Sequence[str], seed: int) -> list[Speaker]:
    """`count` speakers spread over the engines in turn (espeak-ng gets the most voices: it has the most)."""
    if not engines:
        raise DataError(
            "no text-to-speech engine found; install one of them: apt-get install -y "
            + " ".join(p for e in ENGINES for p in APT_PACKAGES[e])
        )
    rng = np.random.default_rng(seed)
    weights = np.array([{"espeak-ng": 6.0, "flite": 2.0, "festival": 2.0}[e] for e in engines])
    chosen = rng.choice(len(engines), size=count, p=weights / weights.sum())
    speakers = []
    for i, k in enumerate(chosen):
        engine = engines[k]
        if engine == "espeak-ng":
            voice = f"{rng.choice(ESPEAK_ACCENTS)}+{rng.choice(ESPEAK_VARIANTS)}"
            pitch, rate = float(rng.integers(15, 86)), float(rng.integers(110, 200))
        elif engine == "flite":
            voice, pitch, rate = str(rng.choice(FLITE_VOICES)), float(rng.integers(80, 230)), rng.uniform(0.8, 1.35)
        else:
            voice, pitch, rate = str(rng.choice(FESTIVAL_VOICES)), 0.0, rng.uniform(0.8, 1.35)
        speakers.append(
            Speaker(
                id=_speaker_id(i, engine, voice),
                engine=engine,
                voice=voice,
                pitch=pitch,
                rate=round(float(rate), 3),
                vocal_tract=round(float(rng.uniform(0.85, 1.18)), 3),
                rt60_s=round(float(rng.uniform(0.05, 0.45)), 3),
                wet=round(float(rng.uniform(0.05, 0.35)), 3),
                noise_snr_db=round(float(rng.uniform(35.0, 55.0)), 1),
                noise_tilt=round(float(rng.uniform(0.0, 0.95)), 3),
            )
        )
    return speakers


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise DataError(
            f"{what}: {' '.join(command[:3])} ... failed ({result.returncode}): {result.stderr.strip()[:300]}"
        )


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def speak(speaker: Speaker, words: Sequence[str], rate_scale: Sequence[float], folder: Path) -> list[Path]:
    """Raw engine WAVs, one per word (its own sample rate), the take's rate jitter applied."""
    paths = [folder / f"{i}.wav" for i in range(len(words))]
    if speaker.engine == "espeak-ng":
        for word, scale, path in zip(words, rate_scale, paths, strict=True):
            _run(
                [
                    "espeak-ng",
                    "-v",
                    speaker.voice,
                    "-p",
                    str(int(speaker.pitch)),
                    "-s",
                    str(int(round(speaker.rate * scale))),
                    "-w",
                    str(path),
                    word,
                ],
                speaker.id,
            )
    elif speaker.engine == "flite":
        for word, scale, path in zip(words, rate_scale, paths, strict=True):
            _run(
                [
                    "flite",
                    "-voice",
                    speaker.voice,
                    "--setf",
                    f"duration_stretch={speaker.rate / scale:.3f}",
                    "--setf",
                    f"int_f0_target_mean={speaker.pitch:.0f}",
                    "-t",
                    word,
                    "-o",
                    str(path),
                ],
                speaker.id,
            )
    else:  # one festival process says every word
        script = [f"(voice_{speaker.voice})"]
        for word, scale, path in zip(words, rate_scale, paths, strict=True):
            script.append(f"(Parameter.set 'Duration_Stretch {speaker.rate / scale:.3f})")
            script.append(
                f"(utt.save.wave (utt.synth (Utterance Text {_scheme_string(word)})) {_scheme_string(str(path))} 'riff)"
            )
        script_path = folder / "say.scm"
        script_path.write_text("\n".join(script) + "\n")
        _run(["festival", "-b", str(script_path)], speaker.id)
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"{speaker.id}: {speaker.engine} wrote no audio for {len(missing)} word(s)")
    return paths


def trim(samples: np.ndarray, rate: int, margin_db: float = 40.0, pad_s: float = 0.03) -> np.ndarray:
    """The stretch from the first to the last 10 ms frame within `margin_db` of the loudest, plus `pad_s`."""
    hop = max(1, rate // 100)
    frames = len(samples) // hop
    if frames < 2:
        return samples
    energy = 10 * np.log10(np.mean(samples[: frames * hop].reshape(frames, hop) ** 2, axis=1) + 1e-12)
    voiced = np.flatnonzero(energy >= energy.max() - margin_db)
    pad = int(pad_s * rate)
    return samples[max(0, voiced[0] * hop - pad) : min(len(samples), (voiced[-1] + 1) * hop + pad)]


def room(samples: np.ndarray, rate: int, speaker: Speaker, rng: np.random.Generator) -> np.ndarray:
    """Reverberation (a decaying noise tail mixed in at `wet`) and coloured background noise."""
    length = max(1, int(speaker.rt60_s * rate))
    t = np.arange(length) / rate
    tail = rng.standard_normal(length) * np.exp(-6.9 * t / speaker.rt60_s)  # -60 dB at rt60
    tail /= np.sqrt(np.sum(tail**2)) + 1e-12
    wet = fftconvolve(samples, tail)[: len(samples)]
    mixed = (1 - speaker.wet) * samples + speaker.wet * wet
    noise = lfilter([1.0], [1.0, -speaker.noise_tilt], rng.standard_normal(len(mixed)))
    power = np.mean(mixed**2) + 1e-12
    noise *= np.sqrt(power / 10 ** (speaker.noise_snr_db / 10) / (np.mean(noise**2) + 1e-12))
    return mixed + noise


def render(path: Path, speaker: Speaker, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Engine WAV -> trimmed, vocal-tract scaled, at `sample_rate`, in a room, peak-normalised."""
    samples, rate = decode_wav(path)
    samples = trim(samples.astype(np.float64), rate)
    # Read at `vocal_tract` times its rate: formants and pitch scale by that factor, duration by its inverse.
    scaled_rate = int(round(rate * speaker.vocal_tract / 100.0)) * 100
    samples = resample(samples.astype(np.float32), scaled_rate, sample_rate).astype(np.float64)
    samples = room(samples, sample_rate, speaker, rng)
    peak = np.max(np.abs(samples)) + 1e-12
    return (samples / peak * rng.uniform(0.3, 0.9)).astype(np.float32)


def synthesize(settings: SynthesisSettings) -> dict[str, object]:
    """Write the clips and the manifest; returns the manifest."""
    engines = available_engines(settings.engines)
    missing = [e for e in settings.engines if e not in engines]
    if missing:
        log.warning(
            "text-to-speech engine(s) not installed, left out: %s (apt-get install -y %s)",
            ", ".join(missing),
            " ".join(p for e in missing for p in APT_PACKAGES[e]),
        )
    speakers = draw_speakers(settings.speakers, engines, settings.seed)
    settings.out.mkdir(parents=True, exist_ok=True)
    for label in settings.labels:
        (settings.out / label).mkdir(exist_ok=True)
    rng = np.random.default_rng([settings.seed, 1])
    clips, failed = 0, []
    with tempfile.TemporaryDirectory(prefix="synthesize-") as tmp:
        for number, speaker in enumerate(speakers):
            for take in range(settings.takes):
                folder = Path(tmp) / f"{speaker.id}-{take}"
                folder.mkdir()
                scales = 1.0 + rng.uniform(-settings.rate_jitter, settings.rate_jitter, size=len(settings.words))
                try:
                    raw = speak(speaker, settings.words, scales.tolist(), folder)
                except (DataError, subprocess.TimeoutExpired) as error:
                    log.warning("%s take %d: %s", speaker.id, take, error)
                    failed.append(speaker.id)
                    continue
                for word_path, label in zip(raw, settings.labels, strict=True):
                    clip = render(word_path, speaker, settings.sample_rate, rng)
                    name = f"{SAFE_NAME.sub('-', label).replace('_', '-')}_{speaker.id}_{take}.wav"
                    wavfile.write(
                        settings.out / label / name,
                        settings.sample_rate,
                        (np.clip(clip, -1, 1) * 32767).astype(np.int16),
                    )
                    clips += 1
                shutil.rmtree(folder)
            log.info("speaker %d/%d %s done", number + 1, len(speakers), speaker.id)
    if clips == 0:
        raise DataError(f"{settings.out}: no clip synthesized; every engine call failed")
    manifest: dict[str, object] = {
        "schema_version": 1,
        "words": list(settings.words),
        "labels": list(settings.labels),
        "sample_rate": settings.sample_rate,
        "takes": settings.takes,
        "seed": settings.seed,
        "rate_jitter": settings.rate_jitter,
        "engines": {e: _engine_version(e) for e in engines},
        "engines_missing": missing,
        "clips": clips,
        "failed_speakers": sorted(set(failed)),
        "speakers": [asdict(s) for s in speakers if s.id not in failed],
    }
    (settings.out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _engine_version(engine: str) -> str:
    flag = {"espeak-ng": "--version", "flite": "--version", "festival": "--version"}[engine]
    try:
        result = subprocess.run([engine, flag], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (result.stdout or result.stderr).strip().splitlines()[0][:120] if (result.stdout or result.stderr) else ""


def _split(text: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in text.split(",") if w.strip())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.synthesize", description=__doc__.splitlines()[0])
    parser.add_argument("--words", required=True, help="comma-separated words to say, one per class")
    parser.add_argument("--labels", help="comma-separated class labels, one per word (default: the words)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (the training job's channel)")
    parser.add_argument("--speakers", type=int, default=240, help="synthetic speakers (default 240)")
    parser.add_argument("--takes", type=int, default=3, help="takes of each word per speaker (default 3)")
    parser.add_argument("--sample-rate", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"subset of {','.join(ENGINES)}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    words = _split(args.words)
    try:
        settings = SynthesisSettings(
            words=words,
            labels=_split(args.labels) if args.labels else words,
            out=args.out,
            speakers=args.speakers,
            takes=args.takes,
            sample_rate=args.sample_rate,
            seed=args.seed,
            engines=_split(args.engines),
        )
        manifest = synthesize(settings)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    speakers, engines = manifest["speakers"], manifest["engines"]
    assert isinstance(speakers, list) and isinstance(engines, dict)
    print(f"{manifest['clips']} clips from {len(speakers)} synthetic speakers ({', '.join(engines)}) in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
