"""Each model is served by the image of its framework: the CNN by the PyTorch serving image, the MLP by
the TensorFlow one (inference/Dockerfile, build argument FRAMEWORK), in the serving stacks and in the
model packages the training stack registers."""

from __future__ import annotations

import json

import pytest

from infra.application import REPO_ROOT

from .conftest import MLP_MODEL_DATA, Synthesized, image_assets, image_tags_in, resources, synthesize

ENVS = ("dev", "prod")
FRAMEWORK = {"cnn": "pytorch", "mlp": "tensorflow"}


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("model", ["cnn", "mlp"])
def test_a_serving_stack_builds_only_the_serving_image_of_its_models_framework(synthesized, env, model):
    stack = f"elasticml-{env}-serving-{model}"
    assets = image_assets(synthesized, stack)
    # The serving image, and where the endpoint has a drift monitor (prod), the monitor image: the same
    # Dockerfile and framework built to its `monitor` target (tests/unit/infra/test_drift_monitor.py).
    manifest = json.loads((synthesized.outdir / f"{stack}.assets.json").read_text())
    targets = sorted(a["source"].get("dockerBuildTarget", "") for a in manifest["dockerImages"].values())
    assert targets == (["", "monitor"] if env == "prod" else [""])
    assert set(assets.values()) == {("inference", FRAMEWORK[model])}


def model_image(synthesized, stack: str) -> tuple[str, str | None]:
    """(build context, FRAMEWORK) of the image the stack's SageMaker Model runs."""
    (model,) = resources(synthesized.json(stack), "AWS::SageMaker::Model").values()
    (tag,) = image_tags_in(model["Properties"]["PrimaryContainer"]["Image"])
    return image_assets(synthesized, stack)[tag]


@pytest.fixture(scope="module")
def cnn_from_model_data(tmp_path_factory, stub_sources) -> Synthesized:
    """dev alone, its CNN served from a model data URL, so that its Model names the image itself (the
    session's app serves the CNN from a model package)."""
    context = {"env": "dev", "dev:cnn_model_data_url": MLP_MODEL_DATA.replace("/mlp/", "/cnn/")}
    return synthesize(tmp_path_factory, stub_sources, "cdk.out-cnn", context)


def test_the_cnn_model_runs_the_pytorch_serving_image(cnn_from_model_data):
    assert model_image(cnn_from_model_data, "elasticml-dev-serving-cnn") == ("inference", "pytorch")


@pytest.mark.parametrize("env", ENVS)
def test_the_mlp_model_runs_the_tensorflow_serving_image(synthesized, env):
    assert model_image(synthesized, f"elasticml-{env}-serving-mlp") == ("inference", "tensorflow")


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("model", ["cnn", "mlp"])
def test_the_registered_model_package_names_the_serving_image_of_the_models_framework(synthesized, env, model):
    """A model served from a package (the CNN here) runs the image the training stack's
    RegisterModelPackage step registers with it: the state machine names the model's training image
    and the serving image of the same framework, no other."""
    training = f"elasticml-{env}-training"
    template = synthesized.json(training)
    (machine,) = (
        m
        for k, m in resources(template, "AWS::StepFunctions::StateMachine").items()
        if k.startswith(model.capitalize())
    )
    assets = image_assets(synthesized, training)
    tags = image_tags_in(machine["Properties"]["DefinitionString"])
    assert sorted(assets[t] for t in tags) == [("inference", FRAMEWORK[model]), ("training", FRAMEWORK[model])]


def test_every_pytorch_image_gets_the_torch_version_of_requirements_txt_and_no_other_does(synthesized):
    """torch's one pin (requirements.txt) reaches the PyTorch images as their build argument TORCH_VERSION."""
    [pin] = [line for line in (REPO_ROOT / "requirements.txt").read_text().splitlines() if line.startswith("torch==")]
    seen = set()
    for manifest in synthesized.outdir.glob("*.assets.json"):
        for asset in json.loads(manifest.read_text())["dockerImages"].values():
            build_args = asset["source"].get("dockerBuildArgs") or {}
            seen.add((build_args.get("FRAMEWORK"), build_args.get("TORCH_VERSION")))
    assert seen == {("pytorch", pin.removeprefix("torch==")), ("tensorflow", None)}
