"""The synthetic channel's share of each batch, and which data the artifact learns (refit)."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from training.data.folders import Dataset
from training.errors import DataError
from training.hyperparameters import parse_hyperparameters
from training.job import load_splits
from training.mlp_training import SyntheticMixture


def _data(n, speakers, classes=("a", "b"), width=8):
    return Dataset(
        inputs=np.arange(n * width, dtype=np.float32).reshape(n, width),
        labels=np.arange(n) % len(classes),
        class_names=list(classes),
        groups=np.asarray([speakers[i % len(speakers)] for i in range(n)]),
        source=Path("/data"),
    )


def test_each_real_batch_gets_its_seeded_synthetic_draw():
    mixture = SyntheticMixture.build(_data(20, ["r1", "r2"]), _data(50, ["s1"]), ratio=0.5, batch_size=8)
    assert mixture.per_batch == 4 and mixture.num_real == 20 and len(mixture.labels) == 70
    real = [np.arange(8), np.arange(8, 16)]
    batches = mixture.add_synthetic(real, seed=0, epoch=3)
    assert all(len(b) == 12 for b in batches)
    assert all((b[:8] < 20).all() and (b[8:] >= 20).all() and (b[8:] < 70).all() for b in batches)
    assert all(np.array_equal(x, y) for x, y in zip(batches, mixture.add_synthetic(real, seed=0, epoch=3), strict=True))
    assert not np.array_equal(batches[0], mixture.add_synthetic(real, seed=0, epoch=4)[0])


def test_no_channel_or_ratio_zero_leaves_the_batches_alone():
    real = [np.arange(8)]
    for synthetic, ratio in ((None, 0.5), (_data(10, ["s"]), 0.0)):
        mixture = SyntheticMixture.build(_data(8, ["r"]), synthetic, ratio, batch_size=8)
        assert mixture.per_batch == 0 and np.array_equal(mixture.add_synthetic(real, 0, 0)[0], real[0])


def test_a_synthetic_channel_of_other_classes_or_shapes_is_named():
    with pytest.raises(DataError, match="differ from the train channel"):
        SyntheticMixture.build(_data(8, ["r"]), _data(8, ["s"], classes=("a", "c")), 0.5, 8)
    with pytest.raises(DataError, match="shape"):
        SyntheticMixture.build(_data(8, ["r"]), _data(8, ["s"], width=4), 0.5, 8)


def _splits(tmp_path, channels, **hyperparameters):
    data = {
        "train": _data(40, ["ann", "bob", "cat", "dan"]),
        "test": _data(10, ["eve"]),
        "validation": _data(10, ["fay"]),
    }
    env = SimpleNamespace(channels={c: tmp_path / c for c in channels}, input_dir=tmp_path)
    hp = parse_hyperparameters({"model": "mlp", "validation_fraction": "0.25", **hyperparameters})
    return load_splits(env, hp, lambda path, names: data[path.name])


def test_with_a_test_channel_the_artifact_learns_every_speaker(tmp_path):
    splits = _splits(tmp_path, ("train", "test"))
    assert len(splits.train) == 40 and splits.validation is splits.test
    assert splits.fit["refit"] is True and splits.fit["speakers"] == ["ann", "bob", "cat", "dan"]
    assert splits.fit["epochs"] == 80


def test_refit_false_holds_a_speaker_out_and_says_which(tmp_path):
    splits = _splits(tmp_path, ("train", "test"), refit="false")
    assert splits.fit["refit"] is False and len(splits.fit["held_out_speakers"]) == 1
    assert len(splits.train) == 30 and set(splits.validation.groups) == set(splits.fit["held_out_speakers"])


def test_a_validation_channel_or_no_test_channel_keeps_validation(tmp_path):
    assert _splits(tmp_path, ("train", "validation", "test")).fit["validated_on"] == "validation channel"
    assert _splits(tmp_path, ("train",)).fit["refit"] is False


def test_the_conv_front_end_is_optional_and_keeps_the_output_shape():
    import keras
    from training.models.mlp import MLPConfig, build_classifier

    for filters in (0, 8):
        config = MLPConfig(
            num_classes=4,
            feature_shape=(61, 20),
            hidden_units=16,
            hidden_layers=2,
            dropout=0.5,
            aligned_frames=32,
            num_mel_bins=40,
            voiced_margin_db=40.0,
            conv_filters=filters,
        )
        model = build_classifier(config)
        convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv1D)]
        assert len(convs) == (1 if filters else 0)
        assert model(np.zeros((2, 61, 20), np.float32)).shape == (2, 4)
