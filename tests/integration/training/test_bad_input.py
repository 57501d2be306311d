"""Bad input either works or stops with the file or key named in the failure file and a non-zero exit."""

import json

import numpy as np
import pytest
from training.cli import main

from tests.helpers.opt_ml import make_opt_ml
from tests.helpers.synthetic import tone, write_fsdd_folder, write_image_folder, write_wav


def train(tree, monkeypatch, **environ: str) -> int:
    for key in ("SM_CHANNEL_TRAIN", "SM_HOSTS", "SM_CURRENT_HOST"):
        monkeypatch.delenv(key, raising=False)
    for key, value in {**tree.environ(), **environ}.items():
        monkeypatch.setenv(key, value)
    return main([])


def image_job(tmp_path, **hyperparameters):
    tree = make_opt_ml(
        tmp_path / "ml", {"model": "cnn", "epochs": "1", "batch_size": "8", "width": "8", **hyperparameters}
    )
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


def test_a_model_dir_that_cannot_be_written_stops_the_job_before_training(tmp_path, monkeypatch):
    tree = image_job(tmp_path)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the model dir's parent should be")
    trained = []
    from training import cnn_training

    monkeypatch.setattr(cnn_training.CNNTrainer, "train_batch", lambda *a: trained.append(1))
    assert train(tree, monkeypatch, SM_MODEL_DIR=str(blocker / "model")) == 1
    reason = tree.failure_file.read_text()
    assert f"model dir {blocker / 'model'} is not writable" in reason
    assert trained == []


def test_a_final_model_write_on_a_full_disk_is_exit_1_naming_the_path(tmp_path, monkeypatch):
    from training import cnn_training

    def full_disk(self, model_dir):
        (model_dir / "model.pt2.partial").write_bytes(b"x")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    monkeypatch.setattr(cnn_training.CNNTrainer, "export", full_disk)
    tree = image_job(tmp_path)
    assert train(tree, monkeypatch) == 1
    reason = tree.failure_file.read_text()
    assert f"WriteError: could not write {tree.model_dir}: RuntimeError" in reason and "MiB free" in reason
    assert not (tree.model_dir / "manifest.json").exists()


def test_a_non_finite_loss_is_exit_1_with_a_failure_file_and_no_artifact(tmp_path, monkeypatch):
    from training import cnn_training

    real = cnn_training.CNNTrainer.train_batch

    def diverging(self, batch, learning_rate, step):
        loss, correct, seen = real(self, batch, learning_rate, step)
        return (float("nan") if step >= 1 else loss), correct, seen

    monkeypatch.setattr(cnn_training.CNNTrainer, "train_batch", diverging)
    tree = image_job(tmp_path)
    assert train(tree, monkeypatch) == 1
    assert "NonFiniteLoss: the training loss became NaN or infinite in epoch 1" in tree.failure_file.read_text()
    assert not any(tree.model_dir.iterdir())


def test_an_infinite_learning_rate_is_refused_before_training(tmp_path, monkeypatch):
    tree = image_job(tmp_path, learning_rate="inf")
    assert train(tree, monkeypatch) == 1
    assert "hyperparameter 'learning_rate' must be in (0, 100], got inf" in tree.failure_file.read_text()


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("security_eps", "-1/255", "hyperparameter 'security_eps': epsilon -1/255 must be in (0, 1]"),
        ("security_samples", "0", "hyperparameter 'security_samples' must be in [1, 100000], got 0"),
    ],
)
def test_bad_security_hyperparameters_are_refused_before_training(tmp_path, monkeypatch, key, value, message):
    tree = image_job(tmp_path, **{key: value})
    assert train(tree, monkeypatch) == 1
    assert message in tree.failure_file.read_text()
