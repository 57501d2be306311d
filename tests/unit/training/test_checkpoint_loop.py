"""The epoch loop and checkpoint store with a deterministic fake trainer (no framework)."""

import json
import pickle

import pytest
from training.checkpoint import CheckpointStore, LoopState
from training.errors import ConfigError
from training.loop import EpochLoop, Preempted, StopSignal
from training.schedule import Budget


class FakeTrainer:
    """A 'model' that is one number; each step moves it by the batch and the learning rate."""

    steps_per_epoch = 4

    def __init__(self, stop=None, stop_after_steps=None):
        self.weight = 0.0
        self.steps = 0
        self.stop, self.stop_after_steps = stop, stop_after_steps

    def batches(self, epoch):
        return [epoch * 10 + i for i in range(self.steps_per_epoch)]

    def train_batch(self, batch, learning_rate, step):
        self.weight = self.weight * 0.9 + batch * learning_rate + step
        self.steps += 1
        if self.stop is not None and self.steps == self.stop_after_steps:
            self.stop.request()
        return self.weight, 1.0, 2.0

    def validate(self):
        return self.weight / 100, 0.5

    def all_sum(self, values):
        return list(values)

    def write_state(self, path):
        path.write_bytes(pickle.dumps(self.weight))

    def read_state(self, path):
        self.weight = pickle.loads(path.read_bytes())


def make_loop(trainer, store, stop=None, epochs=3, budget=0.0):
    return EpochLoop(
        trainer,
        epochs=epochs,
        peak_lr=0.1,
        warmup_fraction=0.25,
        lr_start_fraction=0.02,
        lr_end_fraction=0.02,
        budget=Budget(budget),
        stop=stop or StopSignal(),
        checkpoints=store,
        is_master=True,
    )


def comparable(history):
    return [{k: v for k, v in h.items() if k not in ("epoch_time_s", "samples_per_s")} for h in history]


def test_a_preempted_run_resumes_mid_epoch_to_the_same_result(tmp_path, capsys):
    reference = make_loop(FakeTrainer(), None).run()
    store = CheckpointStore(tmp_path, {"model": "fake"})
    stop = StopSignal()
    with pytest.raises(Preempted, match="epoch 2, batch 2"):
        make_loop(FakeTrainer(stop, stop_after_steps=6), store, stop).run()
    resumed_trainer = FakeTrainer()
    resumed = make_loop(resumed_trainer, store).run()
    assert comparable(resumed) == comparable(reference)
    assert resumed_trainer.steps == 12 - 6
    assert "resumed from checkpoint at epoch=2 batch=2 step=6" in capsys.readouterr().out


def test_only_the_two_newest_checkpoints_are_kept(tmp_path):
    make_loop(FakeTrainer(), CheckpointStore(tmp_path, {})).run()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint-00002-0000000.json",
        "checkpoint-00002-0000000.state",
        "checkpoint-00003-0000000.json",
        "checkpoint-00003-0000000.state",
    ]


def test_a_truncated_checkpoint_is_skipped_for_the_one_before(tmp_path, caplog):
    store = CheckpointStore(tmp_path, {})
    make_loop(FakeTrainer(), store, epochs=2).run()
    newest = tmp_path / "checkpoint-00002-0000000.state"
    newest.write_bytes(newest.read_bytes()[:3])
    state = store.load_latest(lambda path: pickle.loads(path.read_bytes()))
    assert state.epoch == 1
    assert "checkpoint-00002-0000000.json is damaged" in caplog.text


def test_with_no_usable_checkpoint_training_starts_over(tmp_path, caplog):
    store = CheckpointStore(tmp_path, {})
    store.save(LoopState(epoch=1), lambda path: path.write_bytes(b"x"))
    (tmp_path / "checkpoint-00001-0000000.state").unlink()
    assert store.load_latest(lambda path: None) is None
    assert "starting from the beginning" in caplog.text


def test_a_checkpoint_from_another_job_is_refused_naming_the_difference(tmp_path):
    CheckpointStore(tmp_path, {"model": "cnn", "width": 32}).save(LoopState(), lambda p: p.write_bytes(b""))
    with pytest.raises(ConfigError, match="width: checkpoint 32, this job 64"):
        CheckpointStore(tmp_path, {"model": "cnn", "width": 64}).load_latest(lambda p: None)


def test_a_setting_added_since_the_checkpoint_matches_only_at_its_default(tmp_path):
    CheckpointStore(tmp_path, {"model": "cnn"}).save(LoopState(), lambda p: p.write_bytes(b""))
    defaults = {"lr_end_fraction": 0.02}
    CheckpointStore(tmp_path, {"model": "cnn", "lr_end_fraction": 0.02}, defaults).load_latest(lambda p: None)
    with pytest.raises(ConfigError, match="lr_end_fraction: checkpoint None, this job 0.07"):
        CheckpointStore(tmp_path, {"model": "cnn", "lr_end_fraction": 0.07}, defaults).load_latest(lambda p: None)
    with pytest.raises(ConfigError, match="width: checkpoint None, this job 32"):
        CheckpointStore(tmp_path, {"model": "cnn", "width": 32}, defaults).load_latest(lambda p: None)


def test_an_interrupted_write_leaves_no_checkpoint_behind(tmp_path):
    store = CheckpointStore(tmp_path, {})

    def dies_mid_write(path):
        path.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.save(LoopState(epoch=1), dies_mid_write)
    assert store.load_latest(lambda p: None) is None
    assert not list(tmp_path.glob("checkpoint-*"))


def test_time_spent_before_a_restart_counts_against_the_budget(tmp_path):
    store = CheckpointStore(tmp_path, {})
    store.save(LoopState(epoch=1, spent_s=1e6, history=[{"epoch": 1}]), lambda p: p.write_bytes(pickle.dumps(1.0)))
    loop = make_loop(FakeTrainer(), store, budget=10.0)
    history = loop.run()
    assert loop.budget.elapsed() >= 1e6 and len(history) == 1  # nothing left of the budget: no new epoch
    meta = json.loads((tmp_path / "checkpoint-00001-0000000.json").read_text())
    assert meta["loop"]["spent_s"] == 1e6


class DivergingTrainer(FakeTrainer):
    """Its loss turns NaN at step `nan_at` (what an exploding learning rate does)."""

    def __init__(self, nan_at):
        super().__init__()
        self.nan_at = nan_at

    def train_batch(self, batch, learning_rate, step):
        loss, correct, seen = super().train_batch(batch, learning_rate, step)
        return (float("nan") if step >= self.nan_at else loss), correct, seen


# mid-epoch (stops at the next step's agreement), and an epoch's last step (stops before its checkpoint)
@pytest.mark.parametrize("nan_at, epoch, stops_after", [(5, 2, 6), (3, 1, 4)])
def test_a_non_finite_loss_stops_the_loop_before_another_checkpoint(tmp_path, nan_at, epoch, stops_after):
    from training.loop import NonFiniteLoss

    trainer = DivergingTrainer(nan_at)
    with pytest.raises(NonFiniteLoss, match=f"NaN or infinite in epoch {epoch} at step {stops_after}"):
        make_loop(trainer, CheckpointStore(tmp_path, {})).run()
    assert trainer.steps == stops_after
    assert sorted(p.name for p in tmp_path.glob("*.json")) == (["checkpoint-00001-0000000.json"] if nan_at >= 4 else [])


class FullDiskTrainer(FakeTrainer):
    """Writes part of its payload, then the disk is full, from the step `full_from` on."""

    def __init__(self, full_from, error):
        super().__init__()
        self.full_from, self.error = full_from, error

    def write_state(self, path):
        if self.steps < self.full_from:
            return super().write_state(path)
        path.write_bytes(b"partial")
        raise self.error


def _torch_full_disk_error():
    """What torch.save really raises on a full disk (its zip writer's RuntimeError): /dev/full is one."""
    import torch

    try:
        torch.save({"w": torch.zeros(1000)}, "/dev/full")
    except RuntimeError as error:
        return error
    pytest.skip("/dev/full did not fail the write")


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), "torch"])
@pytest.mark.parametrize("earlier", [0, 1])
def test_a_checkpoint_on_a_full_disk_is_a_warning_and_training_goes_on(tmp_path, caplog, error, earlier):
    error = _torch_full_disk_error() if error == "torch" else error
    store = CheckpointStore(tmp_path, {})
    trainer = FullDiskTrainer(full_from=4 * earlier + 1, error=error)  # epochs after `earlier` cannot be saved
    history = make_loop(trainer, store).run()
    assert len(history) == 3 and trainer.steps == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == (
        ["checkpoint-00001-0000000.json", "checkpoint-00001-0000000.state"] if earlier else []
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 3 - earlier
    assert str(tmp_path / "checkpoint-00003-0000000.state") in warnings[-1]
    assert str(error) in warnings[-1] and "MiB free" in warnings[-1]
    assert ("resume from checkpoint-00001-0000000.json" if earlier else "resume from the beginning") in warnings[-1]


def test_a_checkpoint_on_a_really_full_file_system(tmp_path, caplog):
    """A 64 KiB tmpfs (needs root and mount rights, else skipped): the second checkpoint does not fit."""
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    if (
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:

        class Growing(FakeTrainer):
            def write_state(self, path):  # 40 KiB: one checkpoint fits, two do not
                path.write_bytes(pickle.dumps(self.weight) + bytes(40 * 1024))

        trainer = Growing()
        history = make_loop(trainer, CheckpointStore(mount, {})).run()
        assert len(history) == 3
        assert sorted(p.name for p in mount.iterdir()) == [
            "checkpoint-00001-0000000.json",
            "checkpoint-00001-0000000.state",
        ]
        assert any("No space left on device" in r.getMessage() for r in caplog.records)
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_non_finite_validation_loss_stops_the_loop_too(tmp_path):
    from training.loop import NonFiniteLoss

    class Overflowing(FakeTrainer):
        def validate(self):
            return (float("inf"), 0.0) if self.steps > 4 else super().validate()

    with pytest.raises(NonFiniteLoss, match="the validation loss became NaN or infinite in epoch 2 at step 8"):
        make_loop(Overflowing(), CheckpointStore(tmp_path, {})).run()
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["checkpoint-00001-0000000.json"]


def test_a_jobs_checkpoint_from_before_the_schedule_ends_existed_resumes_at_their_defaults(tmp_path):
    from training.hyperparameters import parse_hyperparameters
    from training.job import checkpoint_store

    default = checkpoint_store(tmp_path, parse_hyperparameters({"model": "cnn"}), ["a", "b"])
    older = {k: v for k, v in default.fingerprint.items() if k not in ("lr_start_fraction", "lr_end_fraction")}
    CheckpointStore(tmp_path, older).save(LoopState(epoch=2), lambda p: p.write_bytes(b""))
    assert default.load_latest(lambda p: None).epoch == 2
    changed = checkpoint_store(tmp_path, parse_hyperparameters({"model": "cnn", "lr_end_fraction": "0.07"}), ["a", "b"])
    with pytest.raises(ConfigError, match="lr_end_fraction: checkpoint None, this job 0.07"):
        changed.load_latest(lambda p: None)
