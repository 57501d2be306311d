"""A model that learned nothing is said so (the job's warning line, local mode's summary); the progress bar
follows the epochs the job trains."""

import io
from pathlib import Path

import numpy as np
from training.evaluation import evaluate
from training.job import LEARNING_WARNING_PREFIX

from local_mode.progress import Progress
from local_mode.report import ModelReport, Report, format_summary
from local_mode.training_job import LEARNING_WARNING_LINE


def _report(training_evaluation):
    model = ModelReport(
        model="cnn",
        data="your images in /data/pets: 2 classes",
        train_samples=108,
        held_out_samples=12,
        train_seconds=30.0,
        epochs_completed=6,
        training_evaluation=training_evaluation,
        artifacts={"model dir": "/tmp/local/model/cnn"},
    )
    return Report(started_at="2026-12-07T04:00:00+00:00", models=[model])


def test_a_constant_model_s_warning_reaches_the_log_parser_and_the_summary():
    labels = np.array([0, 1] * 6)
    probabilities = np.tile([0.51, 0.49], (12, 1))  # every image "cat", p 0.51: the run
    evaluation = evaluate(labels, probabilities, ["cat", "dog"], "test")
    warning = evaluation["learning_check"]["warning"]
    match = LEARNING_WARNING_LINE.match(f"{LEARNING_WARNING_PREFIX}{warning}")
    assert match and match["text"] == warning
    summary = format_summary(_report(evaluation), Path("/tmp/local/report.json"), Path("/tmp"))
    assert "WARNING: the model predicts 'cat' for 100% of the 12 held-out inputs" in summary
    assert "more data" in summary


def test_a_model_that_learned_gets_no_warning_in_the_summary():
    labels = np.array([0, 1] * 6)
    probabilities = np.eye(2)[labels] * 0.8 + 0.1
    summary = format_summary(
        _report(evaluate(labels, probabilities, ["cat", "dog"], "test")), Path("/tmp/r.json"), Path("/tmp")
    )
    assert "WARNING" not in summary


def test_the_progress_follows_the_epochs_the_job_says_it_trains():
    stream = io.StringIO()
    with Progress("train cnn", 6, stream=stream, interactive=False) as progress:
        progress.set_total(75)  # the small-data floor raised 6 epochs to 75
        for _ in range(10):
            progress.advance()
    assert progress.total == 75 and progress.count == 10
