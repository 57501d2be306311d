"""Spot preemption and data-parallel training, with the `train` program launched as SageMaker would."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from inference.readiness import free_port

from tests.helpers.opt_ml import make_opt_ml
from tests.helpers.synthetic import write_fsdd_folder, write_image_folder

ROOT = Path(__file__).resolve().parents[3]
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")  # two names for this machine: two "hosts" without editing /etc/hosts

pytestmark = pytest.mark.slow


def start_train(tree, extra_env=None) -> subprocess.Popen:
    environ = {
        **os.environ,
        **tree.environ(),
        **(extra_env or {}),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    return subprocess.Popen(
        [str(ROOT / "training" / "train"), "train"],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process, timeout=300) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-4000:]
    return output


def epoch_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("epoch=")]


def weights_checksum(output: str) -> str:
    return next(line for line in output.splitlines() if "weights_checksum=" in line).split("weights_checksum=")[1]


def image_tree(root, hyperparameters, **kwargs):
    tree = make_opt_ml(
        root, {"model": "cnn", "width": "8", "batch_size": "16", "seed": "3", **hyperparameters}, **kwargs
    )
    write_image_folder(tree.channel("train"), per_class=50, seed=0)
    return tree


@pytest.mark.parametrize("family", ["residual", "airbench"])
def test_sigterm_checkpoints_and_a_restart_finishes_the_same_epochs(tmp_path, family):
    reference = image_tree(tmp_path / "reference", {"epochs": "5", "family": family})
    reference_out = finish(start_train(reference))

    checkpoints = tmp_path / "checkpoints"
    tree = image_tree(tmp_path / "spot", {"epochs": "5", "family": family, "checkpoint_dir": str(checkpoints)})
    launched = time.monotonic()
    process = start_train(tree)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("epoch=1 "):
            process.send_signal(signal.SIGTERM)
            break
    started = time.monotonic()
    rest, _ = process.communicate(timeout=120)
    assert process.returncode == 0, "".join(lines) + rest
    # Ratio in one run, not a wall-clock limit: stopping (checkpoint and exit) takes less time than the same
    # job took to start and reach that epoch on this machine, under whatever load it has now.
    assert time.monotonic() - started < started - launched
    assert "SIGTERM: checkpoint written" in rest
    assert list(checkpoints.glob("checkpoint-*.state"))
    assert not (tree.model_dir / "manifest.json").exists()

    resumed = finish(start_train(tree))
    assert "resumed from checkpoint at epoch=" in resumed
    all_epochs = epoch_lines("".join(lines) + rest + resumed)
    assert [line.split()[0] for line in all_epochs] == [f"epoch={i}" for i in range(1, 6)]
    manifest = json.loads((tree.model_dir / "manifest.json").read_text())
    assert manifest["metrics"]["epochs_completed"] == 5
    reference_accuracy = float(epoch_lines(reference_out)[-1].split("val_accuracy=")[1].split()[0])
    resumed_accuracy = float(all_epochs[-1].split("val_accuracy=")[1].split()[0])
    assert resumed_accuracy == pytest.approx(reference_accuracy, abs=0.05)


def test_two_host_ddp_on_loopback_writes_one_artifact_as_good_as_one_process(tmp_path):
    port = free_port()
    hyperparameters = {"epochs": "4", "dist_port": str(port)}
    single = image_tree(tmp_path / "single", hyperparameters)
    finish(start_train(single))
    trees = [
        image_tree(tmp_path / host, hyperparameters, hosts=LOOPBACK_HOSTS, current_host=host) for host in LOOPBACK_HOSTS
    ]
    processes = [start_train(tree, {"SM_NUM_CPUS": "1"}) for tree in trees]
    outputs = [finish(p) for p in processes]
    assert "joining DDP: rank 0 of 2" in outputs[0] and "joining DDP: rank 1 of 2" in outputs[1]
    assert (trees[0].model_dir / "manifest.json").exists()
    assert not (trees[1].model_dir / "manifest.json").exists()
    single_accuracy = json.loads((single.output_data_dir / "evaluation.json").read_text())["accuracy"]
    ddp_accuracy = json.loads((trees[0].output_data_dir / "evaluation.json").read_text())["accuracy"]
    assert ddp_accuracy == pytest.approx(single_accuracy, abs=0.1)
    assert (len(epoch_lines(outputs[0])), len(epoch_lines(outputs[1]))) == (4, 0)  # metric lines: master only
    assert weights_checksum(outputs[0]) == weights_checksum(outputs[1])  # the replicas stayed in step


def test_two_worker_multi_worker_mirrored_strategy_on_loopback(tmp_path):
    port = free_port(span=2)
    hyperparameters = {"model": "mlp", "epochs": "6", "batch_size": "16", "dist_port": str(port)}

    def tree(root, **kwargs):
        made = make_opt_ml(root, hyperparameters, **kwargs)
        write_fsdd_folder(made.channel("train"), per_speaker=8)
        return made

    single = tree(tmp_path / "single")
    finish(start_train(single))
    trees = [tree(tmp_path / host, hosts=LOOPBACK_HOSTS, current_host=host) for host in LOOPBACK_HOSTS]
    processes = [start_train(t, {"SM_NUM_CPUS": "1"}) for t in trees]
    outputs = [finish(p) for p in processes]
    assert "MultiWorkerMirroredStrategy: worker 0 of 2" in outputs[0]
    assert weights_checksum(outputs[0]) == weights_checksum(outputs[1])  # gradients were all-reduced
    assert (trees[0].model_dir / "manifest.json").exists()
    assert not (trees[1].model_dir / "manifest.json").exists()
    single_accuracy = json.loads((single.output_data_dir / "evaluation.json").read_text())["accuracy"]
    mwms_accuracy = json.loads((trees[0].output_data_dir / "evaluation.json").read_text())["accuracy"]
    assert mwms_accuracy == pytest.approx(single_accuracy, abs=0.15)


@pytest.mark.parametrize("family", ["residual", "airbench"])
def test_several_processes_on_one_host_train_in_step(tmp_path, family):
    """One process per GPU on a GPU host; forced to two on this CPU host with processes_per_host. The
    airbench family's weight averaging and alternating flips depend on the step only: still in step."""
    hyperparameters = {"epochs": "2", "family": family, "processes_per_host": "2", "dist_port": str(free_port())}
    tree = image_tree(tmp_path / "host", hyperparameters)
    output = finish(start_train(tree, {"SM_NUM_CPUS": "2"}))
    checksums = {
        line.split()[0]: line.split("weights_checksum=")[1]
        for line in output.splitlines()
        if "weights_checksum=" in line
    }
    assert set(checksums) == {"rank=0", "rank=1"} and len(set(checksums.values())) == 1
    assert len(epoch_lines(output)) == 2
    assert (tree.model_dir / "manifest.json").exists()
