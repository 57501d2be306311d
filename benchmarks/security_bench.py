"""`make bench-security`: what the security evaluation measures on the real data, and what it costs.

Every figure is measured in this run, through the real `train` program, on the shared data:
- CNN: the default recipe (width and epochs chosen from `time_budget_s`) on a CIFAR-10 subset
  (`--per-class` images per class of `cifar10-dev`), tested on as many unseen images of
  `cifar10-train-extra`; once undefended and once with adversarial training (`adversarial_fraction`);
- MLP: the default recipe on `fsdd-dev`, three speakers training, the fourth the test channel.
Each job runs the security evaluation with its defaults (`security_budget_s` 25 s, 256 items): its
`elapsed_s` is the time it adds to a job, stated against a 600 s CNN job. The attacks' accuracies are
then measured again on the same artifact with `--eval-budget` seconds, so that more items are attacked
than a 25 s budget affords on this CPU (the job's own figures are in the JSON too).

    python -m benchmarks.security_bench --data ../shared/datasets [--per-class 500] [--budget 150] [--quick]

Writes `benchmarks/results/security-<date>.md` and `.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.train_bench import RESULTS, cifar_subset, link_subset, machine, train

JOB_S = 600  # the CNN job the default budget is judged against (5% of it: 30 s)


def reevaluate(model: str, run_dir: Path, channels: dict[str, Path], hyperparameters: dict[str, str], budget: float):
    """The security evaluation again on the job's artifact, with a larger budget (same seed, same items)."""
    from training.hyperparameters import parse_hyperparameters
    from training.security.job import SecurityPlan, measure_security

    hp = parse_hyperparameters({**hyperparameters, "security_budget_s": str(budget)})
    threads = int(os.environ.get("BENCH_CPUS", "1"))  # as the jobs (SM_NUM_CPUS): no oversubscribed pools
    if model == "cnn":
        import torch

        torch.set_num_threads(threads)
    else:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    if model == "cnn":
        from training.data.images import ImageSettings, load_image_folder

        settings = ImageSettings(size=hp.image_size, on_bad_file="error")
        from training.data.split import split_train_validation

        train_set = load_image_folder(channels["train"], settings, None)
        test_set = load_image_folder(channels["test"], settings, train_set.class_names)
        # The job held validation_fraction of the train channel out (no validation channel): the same
        # split, so that the members are the items it trained on.
        train_set, _ = split_train_validation(train_set, hp.validation_fraction, hp.seed)
        artifact = run_dir / "model" / "model.pt2"
    else:
        from training.data.audio import AudioSettings, load_audio_channel

        settings = AudioSettings(sample_rate=hp.sample_rate, num_samples=int(hp.sample_rate * hp.clip_seconds))
        train_set = load_audio_channel(channels["train"], settings, None)
        test_set = load_audio_channel(channels["test"], settings, train_set.class_names)
        artifact = run_dir / "model" / "saved_model"
    out = run_dir / "reevaluated"
    out.mkdir(exist_ok=True)
    return measure_security(SecurityPlan.from_hyperparameters(hp), artifact, train_set, test_set, "test", out)


def job(model: str, name: str, channels: dict[str, Path], hyperparameters: dict[str, str], work: Path, budget: float):
    run = train(channels, hyperparameters, work / name, {"SM_NUM_CPUS": os.environ.get("BENCH_CPUS", "1")})
    security = run.evaluation["security"]
    print(f"{name}: wall {run.seconds:.0f} s, security {security.get('elapsed_s')} s", flush=True)
    return {
        "name": name,
        "hyperparameters": hyperparameters,
        "wall_s": round(run.seconds, 1),
        "accuracy": run.evaluation["accuracy"],
        "recipe": run.evaluation.get("training", {}).get("recipe"),
        "job_security": security,
        "reevaluated": reevaluate(model, work / name, channels, hyperparameters, budget),
    }


def bench(data: Path, work: Path, per_class: int, budget_s: int, eval_budget: float, fraction: float) -> dict:
    cifar_train = cifar_subset(data / "cifar10-dev", per_class, work / "cifar-train")
    extra = data / "cifar10-train-extra"
    cifar_test = cifar_subset(extra, max(per_class // 5, 10), work / "cifar-test")
    cnn_channels = {"train": cifar_train, "test": cifar_test}
    common = {"model": "cnn", "seed": "0", "time_budget_s": str(budget_s), "explain_per_class": "0"}
    runs = [
        job("cnn", "cnn-undefended", cnn_channels, common, work, eval_budget),
        job(
            "cnn", "cnn-adversarial", cnn_channels, {**common, "adversarial_fraction": str(fraction)}, work, eval_budget
        ),
    ]
    files = sorted((data / "fsdd-dev").glob("*.wav"))
    held_out = sorted({p.name.split("_")[1] for p in files})[-1]
    mlp_channels = {
        "train": link_subset([p for p in files if p.name.split("_")[1] != held_out], work / "fsdd" / "train", False),
        "test": link_subset([p for p in files if p.name.split("_")[1] == held_out], work / "fsdd" / "test", False),
    }
    mlp = {"model": "mlp", "seed": "0", "time_budget_s": str(budget_s), "explain_per_class": "0"}
    runs.append(job("mlp", "mlp-undefended", mlp_channels, mlp, work, eval_budget))
    return {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "load_average_before": os.getloadavg(),
        "cnn_images": {"train": per_class * 10, "test": max(per_class // 5, 10) * 10},
        "mlp_test_speaker": held_out,
        "time_budget_s": budget_s,
        "eval_budget_s": eval_budget,
        "runs": runs,
    }


def bench_full_job(data: Path, work: Path, budget_s: int) -> dict[str, Any]:
    """The default CNN job as deployed: the budget-chosen recipe on all 45,000 training images of the
    45k/5k split (benchmarks/cifar_holdout.py), security evaluation on its defaults."""
    from benchmarks.cifar_holdout import build_split

    train_dir, holdout_dir = build_split(data, work / "cifar45k")
    hyperparameters = {"model": "cnn", "seed": "0", "time_budget_s": str(budget_s), "explain_per_class": "0"}
    run = train(
        {"train": train_dir, "validation": holdout_dir, "test": holdout_dir},
        hyperparameters,
        work / "full",
        {"SM_NUM_CPUS": os.environ.get("BENCH_CPUS", "1")},
    )
    security = run.evaluation["security"]
    return {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "load_average_after": os.getloadavg(),
        "time_budget_s": budget_s,
        "wall_s": round(run.seconds, 1),
        "accuracy": run.evaluation["accuracy"],
        "recipe": {k: run.evaluation["training"]["recipe"].get(k) for k in ("width", "epochs", "chosen_by")},
        "security": security,
        "evaluation_share_of_budget": security.get("elapsed_s", 0) / budget_s,
    }


def full_job_markdown(full: dict[str, Any]) -> str:
    s = full["security"]
    p, r = s.get("privacy", {}), s.get("robustness", {})
    lines = [
        "",
        f"## The default CNN job, {full['time_budget_s']} s on the 45k/5k split ({full['measured_at']})",
        "",
        f"Recipe {full['recipe']}, held-out accuracy {full['accuracy']:.4f}, wall {full['wall_s']} s. The security "
        f"evaluation took **{s.get('elapsed_s')} s = {full['evaluation_share_of_budget']:.1%} of the "
        f"{full['time_budget_s']} s budget**, attacked {r.get('samples')} items (not measured: "
        f"{', '.join(r.get('not_measured', [])) or 'none'}). Membership inference on 256 + 256 items: loss "
        f"threshold AUC {p['loss_threshold']['auc']:.3f} (advantage {p['loss_threshold']['advantage']:.3f}), "
        f"black box AUC {p['black_box']['auc']:.3f}; member accuracy {p['member_accuracy']:.3f}, non-member "
        f"{p['non_member_accuracy']:.3f}. Load average after: {full['load_average_after']}.",
        "",
        "| attack | budget | accuracy |",
        "|---|---|---|",
        *_robust_rows(s),
    ]
    return "\n".join(lines) + "\n"


def bench_mlp_membership(data: Path, work: Path, budget_s: int, variants: list[str]) -> dict[str, Any]:
    """Membership inference on the MLP without the speaker shift: every speaker in both splits, the
    recordings with index 0-4 held out (FSDD's own test convention), so members and non-members differ
    only in whether the model trained on them. One job per variant (`key=value,...` overrides)."""
    files = sorted((data / "fsdd-dev").glob("*.wav"))
    held = [p for p in files if int(p.stem.split("_")[2]) < 5]
    channels = {
        "train": link_subset([p for p in files if p not in held], work / "fsdd-in" / "train", False),
        "test": link_subset(held, work / "fsdd-in" / "test", False),
    }
    runs = []
    for index, variant in enumerate(variants):
        overrides = dict(item.split("=", 1) for item in variant.split(",") if item)
        hyperparameters = {
            "model": "mlp",
            "seed": "0",
            "time_budget_s": str(budget_s),
            "explain_per_class": "0",
            "security_budget_s": "10",  # membership inference only needs predictions
            **overrides,
        }
        run = train(channels, hyperparameters, work / f"mlp-in-{index}", {"SM_NUM_CPUS": "1"})
        privacy = run.evaluation["security"]["privacy"]
        runs.append({"overrides": overrides, "accuracy": run.evaluation["accuracy"], "privacy": privacy})
        print(json.dumps(runs[-1]), flush=True)
    return {"measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "time_budget_s": budget_s, "runs": runs}


def mlp_membership_markdown(result: dict[str, Any]) -> str:
    lines = [
        "",
        f"## MLP membership inference without the speaker shift ({result['measured_at']})",
        "",
        "All four speakers train; recordings 0-4 of each digit and speaker are the non-members (FSDD's test "
        f"convention). time_budget_s {result['time_budget_s']}.",
        "",
        "| overrides | accuracy | member / non-member accuracy | AUC loss / black box | advantage |",
        "|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        p = run["privacy"]
        lines.append(
            f"| {run['overrides'] or 'defaults'} | {run['accuracy']:.3f} | {p['member_accuracy']:.3f} / "
            f"{p['non_member_accuracy']:.3f} | {p['loss_threshold']['auc']:.3f} / {p['black_box']['auc']:.3f} | "
            f"{p['advantage']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def _robust_rows(security: dict[str, Any]) -> list[str]:
    robust = security.get("robustness", {})
    if "accuracy" not in robust:
        return [f"| (attacks skipped: {robust.get('skipped', security.get('error', '?'))}) | | |"]
    rows = [f"| clean | | {robust['clean_accuracy']:.3f} |"]
    for attack, by_budget in robust["accuracy"].items():
        for label, value in by_budget.items():
            rows.append(f"| {attack} | {label} | {value:.3f} |")
    for name, value in robust.get("corruptions", {}).get("accuracy", {}).items():
        rows.append(f"| corruption (severity {robust['corruptions']['severity']}) | {name} | {value:.3f} |")
    return rows


def markdown(results: dict[str, Any], command: str) -> str:
    lines = [
        f"# Security evaluation benchmark ({results['measured_at']})",
        "",
        f"Machine: {results['machine']}; load average before the run {results['load_average_before']} "
        "(other helpers' jobs were running on the same 2 cores). Command: `" + command + "`.",
        f"CNN: {results['cnn_images']['train']} CIFAR-10 training images, {results['cnn_images']['test']} unseen "
        f"test images; MLP: fsdd-dev, test speaker {results['mlp_test_speaker']}. Jobs: time_budget_s "
        f"{results['time_budget_s']}, security defaults; attacks re-measured with {results['eval_budget_s']} s.",
        "",
        "| run | accuracy | eval in job (s) | share of a 600 s job | items attacked in job | membership AUC "
        "(loss / black box) | advantage | wall (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in results["runs"]:
        s = run["job_security"]
        p = s.get("privacy", {})
        lines.append(
            f"| {run['name']} | {run['accuracy']:.3f} | {s.get('elapsed_s')} | {s.get('elapsed_s', 0) / JOB_S:.1%} | "
            f"{s.get('robustness', {}).get('samples')} | {p.get('loss_threshold', {}).get('auc', float('nan')):.3f} / "
            f"{p.get('black_box', {}).get('auc', float('nan')):.3f} | {p.get('advantage', float('nan')):.3f} | "
            f"{run['wall_s']} |"
        )
    for run in results["runs"]:
        r = run["reevaluated"]
        lines += [
            "",
            f"## {run['name']}: robustness on {r['robustness'].get('samples')} items ({r['elapsed_s']} s)",
            "",
            "| attack | budget | accuracy |",
            "|---|---|---|",
            *_robust_rows(r),
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--per-class", type=int, default=500)
    parser.add_argument("--budget", type=int, default=150, help="time_budget_s of each job")
    parser.add_argument("--eval-budget", type=float, default=150.0, help="seconds of the re-measured attacks")
    parser.add_argument("--adversarial-fraction", type=float, default=0.5)
    parser.add_argument("--quick", action="store_true", help="20 images per class, 30 s jobs: checks the script")
    parser.add_argument(
        "--mlp-membership",
        help="instead: MLP membership inference per variant, ';'-separated 'key=value,...' ('' = defaults)",
    )
    parser.add_argument(
        "--full-job", type=int, default=0, help="instead: one default CNN job of this budget on the 45k/5k split"
    )
    args = parser.parse_args(argv)
    if not (args.data / "cifar10-dev").is_dir() or not (args.data / "fsdd-dev").is_dir():
        raise SystemExit(f"{args.data}: expected cifar10-dev/ and fsdd-dev/ (../shared/datasets/README.md)")
    if args.quick:
        args.per_class, args.budget, args.eval_budget = 20, 30, 20.0
    stem = RESULTS / f"security-{datetime.now(UTC).strftime('%Y-%m-%d')}"
    if args.mlp_membership is not None:
        with tempfile.TemporaryDirectory(prefix="security-bench-") as work:
            result = bench_mlp_membership(args.data, Path(work), args.budget, args.mlp_membership.split(";"))
        stem.with_suffix(".mlp.json").write_text(json.dumps(result, indent=2) + "\n")
        with stem.with_suffix(".md").open("a") as report:
            report.write(mlp_membership_markdown(result))
        print(mlp_membership_markdown(result))
        return 0
    if args.full_job:
        with tempfile.TemporaryDirectory(prefix="security-bench-") as work:
            full = bench_full_job(args.data, Path(work), args.full_job)
        stem.with_suffix(".full.json").write_text(json.dumps(full, indent=2) + "\n")
        with stem.with_suffix(".md").open("a") as report:
            report.write(full_job_markdown(full))
        print(full_job_markdown(full))
        return 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="security-bench-") as work:
        results = bench(args.data, Path(work), args.per_class, args.budget, args.eval_budget, args.adversarial_fraction)
    results["bench_wall_s"] = round(time.monotonic() - started, 1)
    command = "python -m benchmarks.security_bench " + " ".join(argv if argv is not None else sys.argv[1:])
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(results, command.strip()))
    print(stem.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
