"""The CNN's refit: with a test channel and no validation channel the artifact learns the whole train channel."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
from training.data.folders import Dataset
from training.hyperparameters import parse_hyperparameters
from training.job import load_splits


def _images(n: int, classes=("cat", "dog")) -> Dataset:
    return Dataset(
        inputs=np.arange(n * 3 * 4 * 4, dtype=np.uint8).reshape(n, 3, 4, 4),
        labels=np.arange(n) % len(classes),
        class_names=list(classes),
        groups=None,
        source=Path("/data"),
    )


def _splits(tmp_path, channels, **hyperparameters):
    data = {"train": _images(40), "test": _images(10), "validation": _images(8)}
    env = SimpleNamespace(channels={c: tmp_path / c for c in channels}, input_dir=tmp_path)
    hp = parse_hyperparameters({"model": "cnn", "validation_fraction": "0.25", **hyperparameters})
    return load_splits(env, hp, lambda path, names: data[path.name])


def test_with_a_test_channel_the_cnn_trains_on_every_image_and_watches_the_test_channel(tmp_path, capsys):
    splits = _splits(tmp_path, ("train", "test"))
    assert len(splits.train) == 40 and splits.validation is splits.test
    assert splits.fit["refit"] is True and splits.fit["trained_on"] == "the whole train channel"
    assert "recipe" in splits.fit["epochs_chosen_by"]
    # The evaluation and the reference profile (written from `held_out`) use the test channel.
    assert splits.held_out[0] == "test" and splits.held_out[1] is splits.test
    assert "refit: training on every sample of the train channel for the epochs the recipe chooses" in (
        capsys.readouterr().out
    )


def test_cnn_refit_false_or_no_test_channel_holds_a_share_out(tmp_path):
    for splits in (_splits(tmp_path, ("train", "test"), refit="false"), _splits(tmp_path, ("train",))):
        assert splits.fit["refit"] is False and len(splits.train) == 30 and len(splits.validation) == 10


def test_a_validation_channel_is_used_as_given(tmp_path):
    splits = _splits(tmp_path, ("train", "validation", "test"))
    assert len(splits.train) == 40 and len(splits.validation) == 8 and splits.fit["refit"] is False


def test_the_cnn_manifest_records_refit():
    hp = parse_hyperparameters({"model": "cnn", "refit": "false"})
    assert hp.for_model()["refit"] is False
