"""A restarted auto-recipe job keeps the first attempt's width and epochs and never measures again."""

import json

import pytest
from training.contract import load_environment
from training.errors import ConfigError
from training.hyperparameters import parse_hyperparameters
from training.job import run_rank
from training.loop import Preempted, StopSignal
from training.recipe import Frontier, FrontierPoint, choose

from tests.helpers.opt_ml import make_opt_ml
from tests.helpers.synthetic import write_image_folder

# Two small widths so the test trains in seconds; the real table's widths are 16 to 40.
TINY = Frontier(
    (
        FrontierPoint(width=4, epochs=10, train_samples=1000, accuracy=0.5),
        FrontierPoint(width=4, epochs=20, train_samples=2000, accuracy=0.6),
        FrontierPoint(width=8, epochs=10, train_samples=1000, accuracy=0.55),
        FrontierPoint(width=8, epochs=20, train_samples=2000, accuracy=0.7),
    )
)


@pytest.mark.slow  # two short trainings and an export: about 15 s on a quiet 2-core machine
def test_a_restarted_auto_job_keeps_its_recipe_without_probing(tmp_path, monkeypatch):
    hyperparameters = {
        "model": "cnn",
        "batch_size": "16",
        "time_budget_s": "300",
        "seed": "1",
        "explain_per_class": "0",
    }
    tree = make_opt_ml(tmp_path / "ml", {**hyperparameters, "checkpoint_dir": str(tmp_path / "ml" / "checkpoints")})
    write_image_folder(tree.channel("train"), per_class=30, seed=0)
    checkpoints = tree.checkpoint_dir
    monkeypatch.setattr(Frontier, "load", classmethod(lambda cls, path=None: TINY))
    probes: list[list[int]] = []

    def fake_measure(rates):
        def measure(hp, train, validation, device, widths):
            probes.append(list(widths))
            return {w: rates[w] for w in widths}

        return measure

    class StopAfterFirstCheckpoint(StopSignal):  # SIGTERM as soon as one checkpoint exists
        def install(self) -> None:
            pass

        @property
        def requested(self) -> bool:
            return any(checkpoints.glob("checkpoint-*.json"))

    env = load_environment(environ=tree.environ())
    hp = parse_hyperparameters(env.hyperparameters)
    assert (hp.width, hp.epochs) == (0, 0)  # auto
    # A slow machine: width 4 affords more samples and wins (the choice reads 81 training images).
    monkeypatch.setattr("training.cnn_recipe.measure", fake_measure({4: 2.0, 8: 1.0}))
    monkeypatch.setattr("training.job.StopSignal", StopAfterFirstCheckpoint)
    with pytest.raises(Preempted):
        run_rank(env, hp)
    first = json.loads(sorted(checkpoints.glob("checkpoint-*.json"))[-1].read_text())["recipe"]
    assert first["chosen_by"] == "budget" and first["width"] == 4 and probes == [[4, 8]]
    # The restart measures a machine on which width 8 and many more epochs would win: it must not look.
    assert (
        choose(
            TINY, width=0, epochs=0, samples_per_s={4: 1.0, 8: 500.0}, budget_s=300, spent_s=0, n_train=81, n_val=9
        ).width
        == 8
    )
    monkeypatch.setattr("training.cnn_recipe.measure", fake_measure({4: 1.0, 8: 500.0}))
    monkeypatch.setattr("training.job.StopSignal", StopSignal)
    evaluation = run_rank(load_environment(environ=tree.environ()), hp)
    assert probes == [[4, 8]]  # no second probe
    chosen = evaluation["training"]["recipe"]
    assert (chosen["width"], chosen["epochs"], chosen["resumed"]) == (first["width"], first["epochs"], True)
    manifest = json.loads((tree.model_dir / "manifest.json").read_text())
    assert (manifest["hyperparameters"]["width"], manifest["hyperparameters"]["epochs"]) == (4, first["epochs"])
    # An explicit width never resumes the auto job's checkpoints.
    explicit = parse_hyperparameters({**env.hyperparameters, "width": "8"})
    with pytest.raises(ConfigError, match="width: checkpoint 0, this job 8"):
        run_rank(load_environment(environ=tree.environ()), explicit)
