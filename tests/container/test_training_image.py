"""The training images run as SageMaker runs a training job: `docker run --rm --network none
-v <an /opt/ml tree>:/opt/ml IMAGE train`, the tree holding hyperparameters.json, resourceconfig.json
and inputdataconfig.json as SageMaker writes them (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-running-container.html).
"""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.helpers import docker_cli
from tests.helpers.containers import REPO, copy_images, copy_recordings, train_in_container
from tests.helpers.opt_ml import make_opt_ml

METRICS = json.loads((REPO / "training" / "metric_definitions.json").read_text())


def assert_trained(run, framework: str) -> None:
    assert run.exit_code == 0, run.output[-4000:]
    manifest = json.loads((run.model_dir / "manifest.json").read_text())
    assert manifest["framework"] == framework
    evaluation = json.loads((run.root / "output" / "data" / "evaluation.json").read_text())
    assert 0.0 <= evaluation["accuracy"] <= 1.0 and "confusion_matrix" in evaluation
    assert not (run.root / "output" / "failure").exists()
    # Every metric SageMaker is told to scrape (MetricDefinitions) is in the container's output.
    missing = [m["Name"] for m in METRICS if not re.search(m["Regex"], run.output)]
    assert not missing, f"no line matches the metric definitions {missing}:\n{run.output[-3000:]}"


def test_the_pytorch_image_trains_the_cnn(cnn_run):
    assert_trained(cnn_run, "pytorch")
    assert (cnn_run.model_dir / "model.pt2").is_file()


def test_the_tensorflow_image_trains_the_mlp(mlp_run):
    assert_trained(mlp_run, "tensorflow")
    assert (mlp_run.model_dir / "saved_model").is_dir()


@pytest.mark.parametrize("image_name", ["training-pytorch", "training-tensorflow"])
def test_bad_input_ends_with_the_failure_file_and_exit_1(images, tmp_path, image_name):
    if image_name == "training-pytorch":
        tree = make_opt_ml(tmp_path / "ml", {"model": "cnn", "epochs": "1"})
        copy_images(tree.channel("train"), per_class=3)
        bad = sorted((tree.channel("train") / "cat").iterdir())[0]
        bad.write_bytes(bad.read_bytes()[:40])
        expected = f"cat/{bad.name}: not a readable image"
    else:
        tree = make_opt_ml(tmp_path / "ml", {"model": "mlp", "epochs": "1"})
        copy_recordings(tree.channel("train"), ("george", "jackson"), range(5, 7))
        (tree.channel("train") / "3_theo_9.wav").write_bytes(b"RIFF\x00\x00\x00\x00JUNKJUNK")
        expected = "3_theo_9.wav: not a readable WAV file"
    run = train_in_container(images[image_name], tree.root)
    assert run.exit_code == 1, run.output[-3000:]
    reason = tree.failure_file.read_text()
    assert expected in reason, reason
    assert not (tree.model_dir / "manifest.json").exists()


def test_docker_stop_mid_epoch_checkpoints_exits_0_and_a_second_run_resumes(images, tmp_path):
    """SageMaker stops a job (spot interruption, StopTrainingJob) with SIGTERM and SIGKILL 120 s later
    (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StopTrainingJob.html); the restarted
    job gets the checkpoints back in /opt/ml/checkpoints."""
    # Small batches, a few epochs and epochs of a few seconds even on a quiet machine: finding the epoch
    # line (docker logs, polled every 0.5 s) and delivering the stop take up to about a second, which
    # outlasted a whole 0.85 s epoch of 900 samples on a quiet machine (2026-12-07). Epochs to spare
    # should the stop land late.
    per_class = 400
    tree = make_opt_ml(tmp_path / "ml", {"model": "cnn", "epochs": "6", "batch_size": "8", "width": "8"})
    copy_images(tree.channel("train"), per_class=per_class)
    train_samples = 0.9 * 10 * per_class  # validation_fraction 0.1
    container = docker_cli.Container.start(
        images["training-pytorch"],
        ["train"],
        options=["--network", "none", "-v", f"{tree.root}:/opt/ml"],
        label="preempted",
    )
    try:
        container.wait_for_log("epoch=1 ", timeout_s=300)  # the first epoch's metric line: epoch 2 runs
        speed = float(re.search(r"epoch=1 .*?samples_per_s=([0-9.]+)", container.logs())[1])
        time.sleep(0.5 * train_samples / speed)  # half an epoch, at the speed the first one ran
        code, seconds = container.stop(grace_s=120)
        output = container.logs()
    finally:
        container.remove()
    print(f"docker stop mid-epoch: exit {code} after {seconds:.1f} s")
    assert code == 0, output[-3000:]
    assert seconds < 120
    stopped = re.search(r"SIGTERM: checkpoint written at epoch (\d+), batch (\d+)", output)
    assert stopped and int(stopped[2]) > 0, f"not stopped mid-epoch:\n{output[-3000:]}"
    assert any(tree.checkpoint_dir.iterdir())
    assert not (tree.model_dir / "manifest.json").exists()

    resumed = train_in_container(images["training-pytorch"], tree.root)
    assert resumed.exit_code == 0, resumed.output[-3000:]
    assert f"resumed from checkpoint at epoch={stopped[1]} batch={stopped[2]}" in resumed.output, resumed.output[-3000:]
    assert (tree.model_dir / "manifest.json").exists()


def test_docker_stop_while_the_job_starts_exits_0(images, tmp_path):
    """A SIGTERM before the trainer has its handler (Python start, imports) still ends the job: as PID 1
    the program would ignore it and be SIGKILLed (137) after SageMaker's 120 s."""
    tree = make_opt_ml(tmp_path / "ml", {"model": "cnn", "epochs": "1", "width": "8"})
    copy_images(tree.channel("train"), per_class=10)
    container = docker_cli.Container.start(
        images["training-pytorch"],
        ["train"],
        options=["--network", "none", "-v", f"{tree.root}:/opt/ml"],
        label="early-stop",
    )
    try:
        time.sleep(0.3)
        code, seconds = container.stop(grace_s=120)
        logs = container.logs()
    finally:
        container.remove()
    print(f"docker stop during job start: exit {code} after {seconds:.1f} s")
    assert code == 0, logs[-3000:]
