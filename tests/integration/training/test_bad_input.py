"""Bad input either works or stops with the file or key named in the failure file and a non-zero exit."""

import json

import numpy as np
import pytest
from training.cli import main

from tests.opt_ml import make_opt_ml
from tests.synthetic import tone, write_fsdd_folder, write_image_folder, write_wav


def train(tree, monkeypatch) -> int:
    for key in ("SM_CHANNEL_TRAIN", "SM_HOSTS", "SM_CURRENT_HOST"):
        monkeypatch.delenv(key, raising=False)
    for key, value in tree.environ().items():
        monkeypatch.setenv(key, value)
    return main([])


def image_job(tmp_path, **hyperparameters):
    tree = make_opt_ml(tmp_path / "ml", {"model": "cnn", "epochs": "1", "batch_size": "8", "width": "8",
                                         **hyperparameters})
    write_image_folder(tree.channel("train"), per_class=6)
    return tree


def test_a_truncated_image_is_named(tmp_path, monkeypatch):
    tree = image_job(tmp_path)
    bad = tree.channel("train") / "square" / "square_3.png"
    bad.write_bytes(bad.read_bytes()[:50])
    assert train(tree, monkeypatch) == 1
    assert "square/square_3.png: not a readable image" in tree.failure_file.read_text()
    assert not (tree.model_dir / "manifest.json").exists()


def test_skipping_bad_files_is_allowed_when_asked(tmp_path, monkeypatch):
    tree = image_job(tmp_path, on_bad_file="skip")
    (tree.channel("train") / "square" / "junk.jpg").write_bytes(b"not an image")
    assert train(tree, monkeypatch) == 0
    assert json.loads((tree.model_dir / "manifest.json").read_text())["class_names"] == ["circle", "square", "stripes"]


def test_an_empty_class_folder_is_named(tmp_path, monkeypatch):
    tree = image_job(tmp_path)
    (tree.channel("train") / "triangle").mkdir()
    assert train(tree, monkeypatch) == 1
    assert "triangle: empty class folder" in tree.failure_file.read_text()


def test_a_channel_with_a_single_class_is_named(tmp_path, monkeypatch):
    tree = make_opt_ml(tmp_path / "ml", {"model": "cnn"})
    write_image_folder(tree.channel("train"), per_class=3, classes=("cat",))
    assert train(tree, monkeypatch) == 1
    reason = tree.failure_file.read_text()
    assert "single class (cat)" in reason and str(tree.channel("train")) in reason


def test_an_unknown_model_is_named(tmp_path, monkeypatch):
    tree = make_opt_ml(tmp_path / "ml", {"model": "transformer"})
    assert train(tree, monkeypatch) == 1
    assert "'model' must be one of cnn, mlp, got 'transformer'" in tree.failure_file.read_text()


def test_a_non_numeric_epochs_is_named(tmp_path, monkeypatch):
    tree = make_opt_ml(tmp_path / "ml", {"model": "mlp", "epochs": "many"})
    assert train(tree, monkeypatch) == 1
    assert "'epochs' must be an integer, got 'many'" in tree.failure_file.read_text()


def test_a_missing_train_channel_is_named(tmp_path, monkeypatch):
    tree = make_opt_ml(tmp_path / "ml", {"model": "cnn"}, channels=())
    assert train(tree, monkeypatch) == 1
    assert "no 'train' channel" in tree.failure_file.read_text()


def test_a_wav_that_is_not_a_wav_is_named(tmp_path, monkeypatch):
    tree = make_opt_ml(tmp_path / "ml", {"model": "mlp", "epochs": "1"})
    write_fsdd_folder(tree.channel("train"), per_speaker=2)
    (tree.channel("train") / "low_ann_99.wav").write_bytes(b"RIFF\x00\x00\x00\x00JUNKJUNK")
    assert train(tree, monkeypatch) == 1
    assert "low_ann_99.wav: not a readable WAV file" in tree.failure_file.read_text()


@pytest.mark.slow
def test_stereo_44k_recordings_are_downmixed_and_resampled(tmp_path, monkeypatch):
    tree = make_opt_ml(tmp_path / "ml", {"model": "mlp", "epochs": "4", "batch_size": "8"})
    write_fsdd_folder(tree.channel("train"), per_speaker=4)
    rng = np.random.default_rng(5)
    for i in range(4):
        write_wav(tree.channel("train") / f"high_dan_{i}.wav", tone(2000.0, rng, rate=44100), 44100, channels=2)
    assert train(tree, monkeypatch) == 0
    manifest = json.loads((tree.model_dir / "manifest.json").read_text())
    assert manifest["input"]["sample_rate"] == 8000
