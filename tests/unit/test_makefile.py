"""The Makefile's own rules, read from make's database (`make -p`) and dry runs (`make -n`): every mk file
included, in a stated order; `make bench` runs every benchmark it says; short variable names come from the
command line, never silently from the user's shell."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Benchmarks `make bench` leaves out, and why (its help line says so too).
NOT_IN_BENCH = {
    "bench-coldstart": "builds the serving images in Docker (make images) before it measures",
    "bench-frontier": "a plot of a checked-in table, run by bench-train",
    "bench-serve-peers": "installs the serving peers, run by bench-serve",
}


def make(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # VENV_STAMP= : a dry run that does not first plan a virtualenv's install. Without the variables under
    # test, and without an outer make's (`make test ENV=dev` would pass ENV=dev on through MAKEFLAGS).
    dropped = {"ENV", "MODEL", "DATA", "PORT", "LABELS", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}
    environment = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run(
        ["make", "--no-print-directory", "VENV_STAMP=", *args],
        cwd=ROOT,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def database() -> str:
    return make("-p", "-q", "-n", "help").stdout


def variable(database: str, name: str) -> list[str]:
    [value] = re.findall(rf"^{name} :?= (.*)$", database, re.M)
    return value.split()


def prerequisites(database: str, target: str) -> list[str]:
    [found] = re.findall(rf"^{target}:(.*)$", database, re.M)
    return found.split()


def test_every_mk_file_is_included_once_and_infra_first(database):
    included = variable(database, "MK_FILES")
    assert sorted(included) == sorted(p.name for p in (ROOT / "mk").glob("*.mk"))
    assert len(set(included)) == len(included)
    # infra.mk defines what the others name in their prerequisites (expanded as make reads them).
    assert included[0] == "infra.mk"
    assert prerequisites(database, "lint-workflows") == ["node_modules/.installed"]


def test_make_bench_runs_every_benchmark_but_those_said_here(database):
    documented = set(
        re.findall(r"^## (bench-[\w-]+)", "".join(p.read_text() for p in (ROOT / "mk").glob("*.mk")), re.M)
    )
    bench = prerequisites(database, "bench")
    assert set(bench) == documented - set(NOT_IN_BENCH)
    assert set(NOT_IN_BENCH) <= documented  # a renamed benchmark must be renamed here too
    # The capacity benchmark measures what bench-serve measured; the planner plans with the capacity file.
    assert bench.index("bench-serve") < bench.index("bench-capacity") < bench.index("bench-plan")


def test_a_short_variable_from_the_shell_is_ignored_with_a_warning():
    dry = make("-n", "serve", "plan", "TRACE=t.csv", PORT="9999", ENV="/etc/shrc", MODEL="resnet")
    assert dry.returncode == 0, dry.stderr
    assert "--port 8080" in dry.stdout and "--env prod --model cnn" in dry.stdout
    for name in ("PORT=9999", "ENV=/etc/shrc", "MODEL=resnet"):
        assert f"ignoring {name} from the environment" in dry.stderr


def test_the_command_line_sets_them():
    dry = make("-n", "serve", "plan", "TRACE=t.csv", "PORT=9999", "ENV=dev", "MODEL=mlp")
    assert dry.returncode == 0, dry.stderr
    assert "--port 9999" in dry.stdout and "--env dev --model mlp" in dry.stdout
    assert "ignoring" not in dry.stderr


def test_the_monitor_gets_a_labels_file_only_when_given_one():
    assert "--labels" not in make("-n", "monitor").stdout
    assert '--labels "truth.csv"' in make("-n", "monitor", "LABELS=truth.csv").stdout
