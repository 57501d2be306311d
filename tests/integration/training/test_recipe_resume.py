"""A restarted auto-recipe job keeps the first attempt's family, width and epochs and never measures again."""

import json

import pytest
from training.contract import load_environment
from training.errors import ConfigError
from training.hyperparameters import parse_hyperparameters
from training.job import run_rank
from training.loop import Preempted, StopSignal
from training.recipe import Candidate, Frontier, FrontierPoint, choose

from tests.helpers.opt_ml import make_opt_ml
from tests.helpers.synthetic import write_image_folder

# Small widths so the test trains in seconds; the real table's widths are 16 to 40.
TINY = Frontier(
    (
        FrontierPoint(width=4, epochs=10, train_samples=1000, accuracy=0.5, family="airbench"),
        FrontierPoint(width=4, epochs=20, train_samples=2000, accuracy=0.6, family="airbench"),
        FrontierPoint(width=8, epochs=10, train_samples=1000, accuracy=0.55),
        FrontierPoint(width=8, epochs=20, train_samples=2000, accuracy=0.7),
    )
)
AIR4, RES8 = Candidate("airbench", 4), Candidate("residual", 8)


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
    probes: list[list[Candidate]] = []

    def fake_measure(rates):
        def measure(hp, train, validation, device, candidates):
            probes.append(list(candidates))
            return {c: rates[c] for c in candidates}

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
    # A slow machine: the airbench family at width 4 affords more samples and wins (the choice reads
    # 81 training images).
    monkeypatch.setattr("training.cnn_recipe.measure", fake_measure({AIR4: 2.0, RES8: 1.0}))
    monkeypatch.setattr("training.job.StopSignal", StopAfterFirstCheckpoint)
    with pytest.raises(Preempted):
        run_rank(env, hp)
    first = json.loads(sorted(checkpoints.glob("checkpoint-*.json"))[-1].read_text())["recipe"]
    assert (first["chosen_by"], first["family"], first["width"]) == ("budget", "airbench", 4)
    assert probes == [[AIR4, RES8]]
    # The restart measures a machine on which residual width 8 and many more epochs would win: it must
    # not look.
    rates = {AIR4: 1.0, RES8: 500.0}
    restart = choose(TINY, width=0, epochs=0, samples_per_s=rates, budget_s=300, spent_s=0, n_train=81, n_val=9)
    assert restart.candidate == RES8
    monkeypatch.setattr("training.cnn_recipe.measure", fake_measure(rates))
    monkeypatch.setattr("training.job.StopSignal", StopSignal)
    evaluation = run_rank(load_environment(environ=tree.environ()), hp)
    assert probes == [[AIR4, RES8]]  # no second probe
    chosen = evaluation["training"]["recipe"]
    assert (chosen["family"], chosen["width"], chosen["epochs"], chosen["resumed"]) == (
        "airbench",
        first["width"],
        first["epochs"],
        True,
    )
    trained = json.loads((tree.model_dir / "manifest.json").read_text())["hyperparameters"]
    assert (trained["family"], trained["width"], trained["epochs"]) == ("airbench", 4, first["epochs"])
    # The family's recipe applies under what was given: its momentum, the batch size given (16).
    assert (trained["momentum"], trained["batch_size"]) == (0.85, 16)
    # An explicit width never resumes the auto job's checkpoints.
    explicit = parse_hyperparameters({**env.hyperparameters, "width": "8"})
    with pytest.raises(ConfigError, match="width: checkpoint 0, this job 8"):
        run_rank(load_environment(environ=tree.environ()), explicit)
