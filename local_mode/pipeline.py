"""The local-mode loop: data, train, package, serve and invoke, report. Each step's product is a file.

```
<output>/data/...                      sample data, or the user's split into train/ and held_out/
<output>/opt_ml/<model>/               the training job's /opt/ml tree (input, model, output, checkpoints)
<output>/artifacts/<model>/            model.tar.gz and output.tar.gz, as SageMaker uploads them to S3
<output>/model/<model>/                model.tar.gz unpacked, as hosting lays out /opt/ml/model
<output>/logs/<model>-{train,serve}.log
<output>/predictions/<model>.json      every held-out sample and the server's answer
<output>/report.json
```
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from local_mode.invocation import explain_samples, invoke_samples
from local_mode.opt_ml import OptMl, lay_out
from local_mode.packaging import pack, unpack
from local_mode.report import ModelReport, Report, format_summary
from local_mode.sample_audio import write_spoken_digits
from local_mode.sample_images import write_digit_images
from local_mode.samples import ModelData
from local_mode.serving import LocalServer, require_free_port
from local_mode.settings import SAMPLE_DATA_OVERRIDES, LocalSettings
from local_mode.training_job import run_training
from local_mode.user_data import audio_data, image_data


def say(text: str) -> None:
    print(text, flush=True)


@contextmanager
def timed(report: Report, step: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        report.steps_seconds[step] = round(time.monotonic() - started, 1)


def sample_data(settings: LocalSettings) -> list[ModelData]:
    sample, root = settings.sample, settings.output / "data" / "sample"
    if root.exists():
        shutil.rmtree(root)
    train, held_out, images = write_digit_images(
        root / "images",
        per_class=sample.images_per_class,
        size=sample.image_size,
        held_out_fraction=sample.image_held_out_fraction,
        seed=sample.seed,
    )
    digits = ModelData(
        "cnn", train, held_out, tuple(images), "scikit-learn's handwritten digits (8x8 scans, upscaled), 10 classes"
    )
    train, held_out, clips = write_spoken_digits(
        root / "audio",
        speakers=sample.speakers,
        held_out_speaker=sample.held_out_speaker,
        per_digit=sample.utterances_per_digit,
        seed=sample.seed,
    )
    speech = ModelData(
        "mlp",
        train,
        held_out,
        tuple(clips),
        f"synthesized spoken-digit-like audio (not speech), speaker {sample.held_out_speaker} held out",
    )
    return [digits, speech]


def user_data(settings: LocalSettings) -> list[ModelData]:
    root = settings.output / "data" / "user"
    found = []
    if settings.images is not None:
        found.append(image_data(settings.images, root / "images", settings.held_out_fraction, settings.held_out_limit))
    if settings.audio is not None:
        found.append(audio_data(settings.audio, root / "audio", settings.held_out_fraction, settings.held_out_limit))
    return found


def _count_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def _evaluation(tree: OptMl) -> dict:
    evaluation = json.loads((tree.output_data_dir / "evaluation.json").read_text())
    keys = ("split", "num_samples", "accuracy", "macro_f1", "learning_check")
    return {key: evaluation[key] for key in keys if key in evaluation}


def train_and_package(settings: LocalSettings, data: ModelData, report: Report) -> ModelReport:
    out, model = settings.output, data.model
    root = out / "opt_ml" / model
    overrides = SAMPLE_DATA_OVERRIDES.get(model, {}) if settings.uses_sample_data else {}
    hyperparameters = {**settings.recipes[model], **overrides, "checkpoint_dir": str(root / "checkpoints")}
    tree = lay_out(root, hyperparameters, {"train": data.train, "test": data.held_out})
    say(
        f"[train {model}] {data.description}: {_count_files(tree.channel('train'))} training files, "
        f"{len(data.samples)} held out; job tree {tree.root}"
    )
    with timed(report, f"train {model}"):
        result = run_training(
            model, tree, out / "logs" / f"{model}-train.log", int(hyperparameters["epochs"]), settings.train_timeout_s
        )
    with timed(report, f"package {model}"):
        archive = pack(tree.model_dir, out / "artifacts" / model / "model.tar.gz")
        output_archive = pack(tree.output_data_dir, out / "artifacts" / model / "output.tar.gz")
        model_dir = unpack(archive, out / "model" / model)
    say(f"[package {model}] {archive} ({archive.stat().st_size / 1e6:.1f} MB) unpacked into {model_dir}")
    return ModelReport(
        model=model,
        data=data.description,
        train_samples=_count_files(tree.channel("train")),
        held_out_samples=len(data.samples),
        train_seconds=round(result.seconds, 1),
        epochs_completed=result.epochs_completed,
        training_evaluation=_evaluation(tree),
        artifacts={
            "model.tar.gz": str(archive),
            "output.tar.gz": str(output_archive),
            "model dir": str(model_dir),
            "evaluation.json": str(tree.output_data_dir / "evaluation.json"),
            "plots": str(tree.output_data_dir / "*.png"),
            "training log": str(result.log),
        },
    )


def serve_and_invoke(settings: LocalSettings, data: ModelData, entry: ModelReport, report: Report) -> None:
    out, model = settings.output, data.model
    log = out / "logs" / f"{model}-serve.log"
    with timed(report, f"serve {model}"):
        captures = out / "captures" / model  # `make monitor` reads them
        server = LocalServer(out / "model" / model, settings.port, log, settings.ping_timeout_s, captures)
        say(f"[serve {model}] starting inference/serve on 127.0.0.1:{settings.port} with {server.model_dir}")
        with server:
            say(f"[serve {model}] {server.url} answers /ping; invoking with {len(data.samples)} held-out samples")
            summary = invoke_samples(server.url, f"local-{model}", data.samples, f"invoke {model}")
            explanations = explain_samples(server.url, f"local-{model}", data.samples, out / "explanations" / model)
        entry.server_exit_code = server.exit_code
    entry.server = summary.as_dict()
    predictions = out / "predictions" / f"{model}.json"
    predictions.parent.mkdir(parents=True, exist_ok=True)
    predictions.write_text(json.dumps([asdict(p) for p in summary.predictions], indent=1) + "\n")
    entry.artifacts.update({"server log": str(log), "predictions": str(predictions)})
    entry.explanations = [asdict(e) for e in explanations]
    for e in explanations:
        say(
            f"[explain {model}] {Path(e.file).name} ({e.label}): predicted {e.predicted} ({e.probability:.3f}), "
            f"{e.method} -> {e.png}"
        )
    say(
        f"[serve {model}] accuracy {summary.accuracy:.3f}, p50 {summary.latency_ms.get('p50', 0):.1f} ms; "
        f"server stopped (exit code {server.exit_code})"
    )


def run(settings: LocalSettings, smoke: bool = False) -> Report:
    """The whole loop; raises LocalModeError with a cause and a remedy, and leaves no process behind."""
    started = time.monotonic()
    report = Report(started_at=datetime.now(UTC).isoformat(timespec="seconds"), port=settings.port, smoke=smoke)
    require_free_port(settings.port)  # before minutes of training, not after
    with timed(report, "data"):
        datasets = sample_data(settings) if settings.uses_sample_data else user_data(settings)
    say(f"[data] {', '.join(f'{d.model}: {d.description}' for d in datasets)}")
    entries = [train_and_package(settings, data, report) for data in datasets]
    for data, entry in zip(datasets, entries, strict=True):
        serve_and_invoke(settings, data, entry, report)
    report.models = entries
    report.total_seconds = round(time.monotonic() - started, 1)
    path = report.write(settings.output / "report.json")
    say("")
    say(format_summary(report, path, settings.output.parent))
    return report
