"""The synthesizer of synthetic speakers, on its own.

The end-to-end tests need espeak-ng (`apt-get install -y espeak-ng`); they skip, saying so, where it is
missing. `make test` installs it where apt-get runs as root (mk/audio.mk, `tts-test-engine`).
"""

import json
import shutil

import numpy as np
import pytest
from training.data.audio import AudioSettings, decode_wav, load_audio_channel
from training.errors import DataError
from training.synthesize import (
    APT_PACKAGES,
    MANIFEST,
    Speaker,
    SynthesisSettings,
    draw_speakers,
    main,
    room,
    synthesize,
    trim,
)

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng not installed: apt-get install -y espeak-ng"
)


def _speaker(**changes):
    values = dict(
        id="esp000-x",
        engine="espeak-ng",
        voice="en-us+m3",
        pitch=50,
        rate=150,
        vocal_tract=1.0,
        rt60_s=0.2,
        wet=0.2,
        noise_snr_db=40.0,
        noise_tilt=0.5,
    )
    return Speaker(**{**values, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"labels": ("0",)}, "1 labels for 2 words"),
        ({"labels": ("a", "a")}, "two distinct labels"),
        ({"labels": ("a", "b/c")}, "cannot be a folder name"),
        ({"engines": ("espeak-ng", "say")}, "unknown say"),
        ({"speakers": 0}, "at least 1"),
    ],
)
def test_bad_settings_are_named(tmp_path, changes, message):
    values = dict(words=("yes", "no"), labels=("yes", "no"), out=tmp_path)
    with pytest.raises(DataError, match=message):
        SynthesisSettings(**{**values, **changes})


def test_without_an_engine_the_error_says_what_to_install():
    with pytest.raises(DataError, match="apt-get install -y espeak-ng"):
        draw_speakers(3, [], seed=0)


def test_speakers_are_seeded_spread_over_engines_and_named_for_fsdd_files():
    speakers = draw_speakers(40, ["espeak-ng", "flite", "festival"], seed=1)
    assert speakers == draw_speakers(40, ["espeak-ng", "flite", "festival"], seed=1)
    assert {s.engine for s in speakers} == {"espeak-ng", "flite", "festival"}
    assert len({s.id for s in speakers}) == 40
    assert all("_" not in s.id for s in speakers)  # <label>_<speaker>_<take>.wav stays parseable
    assert all(0.85 <= s.vocal_tract <= 1.18 for s in speakers)


def test_trim_keeps_the_spoken_stretch_and_a_margin():
    rate = 8000
    word = np.sin(np.arange(2000) / 5.0)
    samples = np.concatenate([np.zeros(4000), word, np.zeros(6000)])
    trimmed = trim(samples, rate, pad_s=0.03)
    assert 2000 <= len(trimmed) <= 2000 + 2 * 240 + 2 * 80


def test_room_adds_noise_at_the_speakers_snr_and_a_reverberant_tail():
    rng = np.random.default_rng(0)
    clean = np.concatenate([np.sin(np.arange(4000) / 4.0), np.zeros(4000)])
    out = room(clean, 8000, _speaker(noise_snr_db=30.0, wet=0.3, rt60_s=0.3), rng)
    assert out.shape == clean.shape
    tail = out[4000:4400]
    silence_after_tail = out[7000:]
    assert np.mean(tail**2) > 10 * np.mean(silence_after_tail**2)  # the reverberation decays
    snr = 10 * np.log10(np.mean(out[:4000] ** 2) / np.mean(silence_after_tail**2))
    assert 25 < snr < 36


def test_the_apt_packages_cover_every_engine():
    assert set(APT_PACKAGES) == {"espeak-ng", "flite", "festival"}


@needs_espeak
def test_any_words_become_class_folders_the_trainer_reads_with_a_manifest(tmp_path):
    out = tmp_path / "synthetic"
    settings = SynthesisSettings(
        words=("yes", "no", "maybe"),
        labels=("yes", "no", "maybe"),
        out=out,
        speakers=3,
        takes=2,
        engines=("espeak-ng",),
    )
    manifest = synthesize(settings)
    assert manifest["clips"] == 3 * 3 * 2
    written = json.loads((out / MANIFEST).read_text())
    assert written["words"] == ["yes", "no", "maybe"] and len(written["speakers"]) == 3
    assert {"pitch", "rate", "vocal_tract", "rt60_s", "noise_snr_db"} <= set(written["speakers"][0])
    for path in out.rglob("*.wav"):
        samples, rate = decode_wav(path)
        assert rate == 8000 and 0.15 < len(samples) / rate < 1.5 and np.abs(samples).max() > 0.2
    data = load_audio_channel(out, AudioSettings(sample_rate=8000, num_samples=8000), ["maybe", "no", "yes"])
    assert len(data) == 18 and sorted(set(data.groups)) == sorted(s["id"] for s in written["speakers"])


@needs_espeak
def test_the_command_writes_labels_for_words_and_reports_bad_input(tmp_path, capsys):
    out = tmp_path / "digits"
    assert (
        main(
            [
                "--words",
                "zero,one",
                "--labels",
                "0,1",
                "--out",
                str(out),
                "--speakers",
                "2",
                "--takes",
                "1",
                "--engines",
                "espeak-ng",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["0", "1"]
    assert len(list((out / "0").glob("0_*_0.wav"))) == 2
    assert main(["--words", "zero,one", "--labels", "0", "--out", str(out)]) == 2
    assert "1 labels for 2 words" in capsys.readouterr().err
