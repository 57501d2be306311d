"""The reference profile: what the training job writes, the monitor reads and recomputes alike.

Allowed to import both packages (the contracts folder): the input statistics each side implements are
pinned to the same numbers, and a trained artifact's profile and embedding program are read back by
the monitor, whose embeddings of the same inputs equal the ones training stored."""

import numpy as np
import pytest

from monitor import statistics as monitor_side
from monitor.embeddings import embed
from monitor.profile import load_reference
from tests.helpers.opt_ml import train_sample_model
from tests.helpers.synthetic import sample_pixels, sample_tones
from training import reference_profile as training_side


def test_both_sides_compute_the_same_input_statistics():
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 1, size=(7, 3, 16, 16)).astype(np.float32)
    waves = (rng.normal(size=(5, 8000)) * np.linspace(0, 0.5, 8000)).astype(np.float32)
    features = rng.normal(size=(5, 61, 20)).astype(np.float32)
    for ours, theirs in (
        (monitor_side.image_statistics(pixels), training_side.image_statistics(pixels)),
        (monitor_side.audio_statistics(waves, 8000), training_side.audio_statistics(waves, 8000)),
    ):
        assert ours.keys() == theirs.keys()
        for key in ours:
            np.testing.assert_array_equal(ours[key], theirs[key])
    np.testing.assert_array_equal(monitor_side.mfcc_summary(features), training_side.mfcc_summary(features))
    assert (monitor_side.FRAME, monitor_side.ACTIVE_DB) == (training_side.FRAME, training_side.ACTIVE_DB)


@pytest.mark.slow
def test_a_cnn_job_writes_a_profile_the_monitor_reads_and_recomputes(tmp_path, monkeypatch):
    tree = train_sample_model(tmp_path, monkeypatch, "cnn", epochs=1)
    reference = load_reference(tree.model_dir)
    assert set(reference.embeddings) == {"penultimate"}
    assert reference.embeddings["penultimate"].shape[1] == 64  # 8 * width
    assert len(reference.probabilities) == len(reference.statistics["brightness"]) > 0
    assert sum(reference.raw["predicted_class_mix"].values()) == reference.raw["num_samples"]
    pixels = sample_pixels().astype(np.float32) / 255.0
    np.testing.assert_allclose(
        embed(tree.model_dir, "cnn", "image", pixels)["penultimate"],
        training_side.cnn_embeddings(tree.model_dir, pixels),
        atol=1e-6,
    )


@pytest.mark.slow
def test_an_mlp_job_writes_a_profile_with_hidden_and_mfcc_spaces(tmp_path, monkeypatch):
    tree = train_sample_model(tmp_path, monkeypatch, "mlp", epochs=2)
    reference = load_reference(tree.model_dir)
    assert set(reference.embeddings) == {"hidden", "mfcc_summary"}
    assert set(reference.statistics) == {"rms", "active_duration_s", "snr_db"}
    waves = sample_tones()
    ours = embed(tree.model_dir, "mlp", "waveform", waves)
    theirs = training_side.mlp_embeddings(tree.model_dir, waves)
    for space in ("hidden", "mfcc_summary"):
        np.testing.assert_allclose(ours[space], theirs[space], atol=1e-5)
