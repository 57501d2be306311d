"""Sample data and the user's data: layouts, determinism, held-out splits, and the package's walls."""

import re

import numpy as np
import pytest
from PIL import Image
from scipy.io import wavfile

from local_mode.errors import LocalModeError
from local_mode.sample_audio import write_spoken_digits
from local_mode.sample_images import write_digit_images
from local_mode.user_data import audio_data, held_out_mask, image_data

FSDD = re.compile(r"^\d_[a-z]+_\d+\.wav$")


def test_sample_images_are_rgb_png_digit_folders_with_a_disjoint_held_out_split(tmp_path):
    train, held_out, samples = write_digit_images(tmp_path, per_class=10, size=32, held_out_fraction=0.2)
    assert sorted(p.name for p in train.iterdir()) == [str(d) for d in range(10)]
    assert len(samples) == 20 and {s.label for s in samples} == {str(d) for d in range(10)}
    assert {p.name for p in train.rglob("*.png")}.isdisjoint(p.name for p in held_out.rglob("*.png"))
    with Image.open(samples[0].path) as image:
        assert image.mode == "RGB" and image.size == (32, 32)


def test_sample_audio_is_8khz_fsdd_named_with_a_held_out_speaker(tmp_path):
    train, held_out, samples = write_spoken_digits(
        tmp_path, speakers=("ada", "ben"), held_out_speaker="ben", per_digit=2
    )
    assert len(list(train.iterdir())) == 20 and len(samples) == 20
    assert all(FSDD.match(p.name) for p in train.iterdir())
    assert {p.name.split("_")[1] for p in train.iterdir()} == {"ada"}
    rate, data = wavfile.read(samples[0].path)
    assert rate == 8000 and data.dtype == np.int16 and 0.6 * rate <= len(data) <= 0.95 * rate
    assert np.abs(data).max() > 3000  # not silence


def test_sample_data_is_deterministic(tmp_path):
    for run in ("a", "b"):
        write_digit_images(tmp_path / run / "images", per_class=3)
        write_spoken_digits(tmp_path / run / "audio", speakers=("ada", "ben"), held_out_speaker="ben", per_digit=1)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files and all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)


def test_spoken_digits_differ_between_digits_more_than_between_takes(tmp_path):
    _, _, samples = write_spoken_digits(tmp_path, speakers=("ada",), held_out_speaker="ada", per_digit=2)

    def spectrum(path):
        _, data = wavfile.read(path)
        magnitude = np.abs(np.fft.rfft(data.astype(float), 8000))
        bands = magnitude[:4000].reshape(40, 100).sum(1)
        return bands / bands.sum()

    by_digit = {}
    for sample in samples:
        by_digit.setdefault(sample.label, []).append(spectrum(sample.path))
    within = np.mean([np.abs(a - b).sum() for a, b in by_digit.values()])
    between = np.mean([np.abs(by_digit[a][0] - by_digit[b][0]).sum() for a in by_digit for b in by_digit if a < b])
    assert between > 1.5 * within


def test_held_out_mask_is_stratified_never_takes_a_whole_class_and_respects_the_limit():
    labels = ["a"] * 50 + ["b"] * 10 + ["c"]
    mask = held_out_mask(labels, 0.2, limit=12, seed=0)
    held = [label for label, m in zip(labels, mask, strict=True) if m]
    assert held.count("a") == 4 and held.count("b") == 2 and held.count("c") == 0
    assert (mask == held_out_mask(labels, 0.2, limit=12, seed=0)).all()


def test_user_images_are_split_without_overlap(tmp_path):
    write_digit_images(tmp_path / "mine", per_class=5)
    data = image_data(tmp_path / "mine" / "train", tmp_path / "work", fraction=0.25, limit=100)
    train = {p.name for p in data.train.rglob("*.png")}
    held = {s.path.name for s in data.samples}
    assert held and train and held.isdisjoint(train)
    assert {s.path.parent.name for s in data.samples} == {s.label for s in data.samples}


def test_user_fsdd_audio_holds_out_a_whole_speaker(tmp_path):
    write_spoken_digits(tmp_path / "mine", speakers=("ada", "ben", "cleo"), held_out_speaker="none", per_digit=1)
    data = audio_data(tmp_path / "mine" / "train", tmp_path / "work", fraction=0.1, limit=100)
    held_speakers = {s.path.name.split("_")[1] for s in data.samples}
    train_speakers = {p.name.split("_")[1] for p in data.train.iterdir()}
    assert len(held_speakers) == 1 and held_speakers.isdisjoint(train_speakers) and len(data.samples) == 10


def test_user_npz_features_are_split_and_held_out_rows_written_as_npy(tmp_path):
    (tmp_path / "mine").mkdir()
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "mine" / "part.npz",
        features=rng.normal(size=(40, 61, 20)).astype(np.float32),
        labels=np.repeat(np.arange(4), 10),
    )
    data = audio_data(tmp_path / "mine", tmp_path / "work", fraction=0.2, limit=100)
    with np.load(data.train / "features.npz") as train, np.load(data.held_out / "features.npz") as held:
        assert len(train["labels"]) == 32 and len(held["labels"]) == 8
    assert len(data.samples) == 8 and np.load(data.samples[0].path).shape == (61, 20)


@pytest.mark.parametrize(
    "layout, message",
    [
        ({}, "empty"),
        ({"only/a.png": b"x"}, "only one class"),
    ],
)
def test_unusable_image_folders_are_refused_with_a_cause(tmp_path, layout, message):
    (tmp_path / "mine").mkdir()
    for name, content in layout.items():
        (tmp_path / "mine" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "mine" / name).write_bytes(content)
    with pytest.raises(LocalModeError, match=message):
        image_data(tmp_path / "mine", tmp_path / "work", fraction=0.1, limit=10)


def test_flat_audio_needs_fsdd_names(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "hello.wav").write_bytes(b"")
    with pytest.raises(LocalModeError, match="not named <label>_<speaker>_<index>.wav"):
        audio_data(tmp_path / "mine", tmp_path / "work", fraction=0.1, limit=10)
