"""Word edges cut off training clips: only the edges, only when asked, only in training."""

from pathlib import Path

import numpy as np
import pytest
from training.errors import ConfigError
from training.hyperparameters import parse_hyperparameters
from training.word_edges import EdgeCut, cut_word_edges, voiced_spans

RATE = 8000


def _words(n=8):
    """A 300 Hz tone from sample 2000 to 6000 (0.25-0.75 s) in each 1 s clip; silence around it."""
    t = np.arange(RATE) / RATE
    waves = np.zeros((n, RATE), np.float32)
    waves[:, 2000:6000] = 0.3 * np.sin(2 * np.pi * 300.0 * t[2000:6000])
    return waves


def _cut(max_ms=80.0, probability=1.0):
    return EdgeCut(max_ms, probability, RATE, frame_length=256, frame_step=128, margin_db=40.0)


def test_the_voiced_stretch_is_found():
    spans = voiced_spans(_words(2), 256, 128, 40.0)
    assert np.all(np.abs(spans - [2000, 6000]) <= 256), spans


def test_only_the_edges_are_cut_within_the_limit():
    waves = _words(32)
    out = cut_word_edges(waves, np.random.default_rng(0), _cut(max_ms=80.0))
    limit = 80 * RATE // 1000 + 256  # 640 samples plus the frame's resolution
    lengths = []
    for before, after in zip(waves, out, strict=True):
        kept = np.flatnonzero(after)
        start, end = kept[0], kept[-1] + 1
        assert 2000 <= start <= 2000 + limit and 6000 - limit <= end <= 6000
        assert np.array_equal(after[start:end], before[start:end])  # the middle is untouched
        lengths.append(end - start)
    assert min(lengths) < 4000 - 200  # the cut happens
    assert len(set(lengths)) > 8  # by a random amount


def test_labels_are_not_the_cuts_business_and_the_input_is_left_alone():
    waves = _words(4)
    original = waves.copy()
    cut_word_edges(waves, np.random.default_rng(0), _cut())
    assert np.array_equal(waves, original)


def test_half_the_word_always_stays():
    waves = np.zeros((16, RATE), np.float32)
    waves[:, 3800:4200] = 0.3  # a 50 ms word: an 80 ms cut on each side would remove it
    out = cut_word_edges(waves, np.random.default_rng(0), _cut(max_ms=80.0))
    assert all(np.count_nonzero(row) >= 150 for row in out)


@pytest.mark.parametrize("max_ms, probability", [(0.0, 1.0), (80.0, 0.0)])
def test_off_leaves_the_clips_as_they_are(max_ms, probability):
    waves = _words(8)
    assert np.array_equal(cut_word_edges(waves, np.random.default_rng(0), _cut(max_ms, probability)), waves)


def test_settings_are_checked_and_off_by_default():
    hp = parse_hyperparameters({"model": "mlp"})
    assert hp.edge_cut_ms == 0.0
    with pytest.raises(ConfigError, match="'edge_cut_ms' must be in \\[0, 500\\], got 900"):
        parse_hyperparameters({"model": "mlp", "edge_cut_ms": "900"})
    with pytest.raises(ConfigError, match="'edge_cut_probability' must be in \\[0, 1\\]"):
        parse_hyperparameters({"model": "mlp", "edge_cut_probability": "1.5"})


def _trainer(**hyperparameters):
    import tensorflow as tf
    from training.data.folders import Dataset
    from training.distributed import Topology
    from training.mlp_training import MLPTrainer, make_strategy

    waves = _words(8)
    data = Dataset(inputs=waves, labels=np.arange(8) % 2, class_names=["a", "b"], groups=None, source=Path("/data"))
    quiet = {"hidden_units": "8", "batch_size": "8", "noise_snr_db": "200", "speed_perturbation": "0"}
    hp = parse_hyperparameters({"model": "mlp", **quiet, **hyperparameters})
    topo = Topology(hosts=("algo-1",), host_rank=0, processes_per_host=1, local_rank=0, port=29500)
    trainer = MLPTrainer(hp, data, data, topo, make_strategy(topo))
    seen = []
    trainer._train_step = lambda x, y: (seen.append((x.numpy(), y.numpy())), (0.0, 0.0))[1]
    trainer._predict = lambda x: (seen.append((x.numpy(), None)), tf.zeros((len(x), 2)))[1]
    return trainer, waves, seen


def _span_lengths(waves):
    return [np.flatnonzero(np.abs(w) > 1e-6)[-1] - np.flatnonzero(np.abs(w) > 1e-6)[0] for w in waves]


def test_the_trainer_cuts_training_batches_only_and_keeps_their_labels():
    trainer, waves, seen = _trainer(edge_cut_ms="80", edge_cut_probability="1")
    batch = np.arange(8)
    trainer.train_batch(batch, 1e-3, step=0)
    inputs, labels = seen[-1]
    assert np.array_equal(labels, np.arange(8) % 2)
    assert max(_span_lengths(inputs)) < 4000 - 50  # every clip lost some of its edges
    trainer.validate()
    assert np.array_equal(seen[-1][0], waves)  # validation sees the clips whole


def test_the_trainer_does_not_cut_when_off():
    trainer, waves, seen = _trainer(edge_cut_ms="0")
    trainer.train_batch(np.arange(8), 1e-3, step=0)
    assert min(_span_lengths(seen[-1][0])) >= 4000 - 40  # shifted at most; the tone keeps its span
