"""Small data: the floor of optimizer steps, and batches small enough that an epoch holds several."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import training.step_floor as step_floor
from training.data.folders import Dataset
from training.hyperparameters import parse_hyperparameters
from training.job import _with_step_floor, load_splits
from training.sampler import global_batches


def test_the_issue_s_120_photos_get_small_batches_and_the_floor_of_steps():
    # 108 training images at local mode's batch 64 and 6 epochs: 6 optimizer steps, a model at chance.
    plan = step_floor.plan(n_train=108, batch_size=64, epochs=6, learning_rate=0.1, min_steps=300)
    assert plan.batch_size == 27 and plan.steps_per_epoch == 4
    assert plan.learning_rate == pytest.approx(0.1 * 27 / 64)  # the linear scaling rule
    assert plan.epochs == 75 and plan.steps == 300 and plan.changed == ("batch_size", "learning_rate", "epochs")
    assert plan.steps_per_epoch == len(global_batches(108, plan.batch_size, seed=0, epoch=0))


def test_large_data_passes_through_and_zero_turns_the_floor_off():
    large = step_floor.plan(n_train=45_000, batch_size=256, epochs=9, learning_rate=0.2, min_steps=300)
    assert (large.batch_size, large.epochs, large.learning_rate, large.changed) == (256, 9, 0.2, ())
    off = step_floor.plan(n_train=108, batch_size=64, epochs=6, learning_rate=0.1, min_steps=0)
    assert (off.batch_size, off.epochs, off.changed) == (64, 6, ())


def test_the_batch_never_shrinks_below_the_minimum_and_epochs_only_rise():
    tiny = step_floor.plan(n_train=20, batch_size=64, epochs=6, learning_rate=0.1, min_steps=300)
    assert tiny.batch_size == step_floor.MIN_BATCH and tiny.steps_per_epoch == 1 and tiny.epochs == 300
    long = step_floor.plan(n_train=1000, batch_size=64, epochs=50, learning_rate=0.1, min_steps=300)
    assert long.epochs == 50 and long.changed == ()


@pytest.mark.parametrize("model", ["cnn", "mlp"])
def test_the_job_trains_with_the_plan_and_records_it(tmp_path, capsys, model):
    data = Dataset(np.zeros((120, 4), np.float32), np.arange(120) % 2, ["a", "b"], None, Path("/data"))
    test = Dataset(np.zeros((12, 4), np.float32), np.arange(12) % 2, ["a", "b"], None, Path("/data"))
    env = SimpleNamespace(channels={"train": tmp_path / "train", "test": tmp_path / "test"}, input_dir=tmp_path)
    hp = parse_hyperparameters({"model": model, "epochs": "6", "batch_size": "64", "learning_rate": "0.1"})
    splits = load_splits(env, hp, lambda path, names: data if path.name == "train" else test)
    resolved = _with_step_floor(hp, splits, SimpleNamespace(is_master=True))
    # The default floor, 100 steps: the CNN's SGD gets a smaller batch, the MLP's AdamW more epochs of its batch.
    batch, epochs = (30, 25) if model == "cnn" else (64, 100)
    assert (resolved.batch_size, resolved.epochs) == (batch, epochs)
    assert splits.fit["steps"]["steps"] == 100 and splits.fit["epochs"] == epochs  # a refit: the whole train channel
    line = f"small data: 120 training samples; batch_size 64 -> {batch}, epochs 6 -> {epochs}"
    assert line in capsys.readouterr().out
