import json

import pytest
from training.contract import load_environment, parse_flags
from training.distributed import topology
from training.errors import ConfigError

from tests.helpers.opt_ml import TEST_DEFAULTS, make_opt_ml


def test_paths_hosts_and_hyperparameters_come_from_the_opt_ml_tree(tmp_path):
    tree = make_opt_ml(
        tmp_path,
        {"model": "cnn", "epochs": "3"},
        channels=("train", "validation"),
        hosts=("algo-2", "algo-1"),
        current_host="algo-2",
    )
    env = load_environment([], tree.environ())
    assert env.model_dir == tree.model_dir
    assert env.output_data_dir == tree.output_dir / "data"
    assert env.channels == {"train": tree.channel("train"), "validation": tree.channel("validation")}
    assert env.hosts == ("algo-1", "algo-2")  # sorted: the first is the master on every host
    assert env.current_host == "algo-2" and not topology(env, processes=1, port=29500).is_master
    assert env.hyperparameters == {**TEST_DEFAULTS, "model": "cnn", "epochs": "3"}


def test_variables_override_files_and_flags_override_hyperparameters(tmp_path):
    tree = make_opt_ml(tmp_path, {"model": "cnn", "epochs": "3"})
    elsewhere = tmp_path / "mine"
    environ = {
        **tree.environ(),
        "SM_CHANNEL_TRAIN": str(elsewhere),
        "SM_HOSTS": '["a", "b"]',
        "SM_CURRENT_HOST": "b",
        "SM_NUM_CPUS": "7",
        "SM_OUTPUT_DATA_DIR": str(tmp_path / "od"),
    }
    env = load_environment(["train", "--epochs", "5", "--batch-size=8"], environ)
    assert env.channels["train"] == elsewhere
    assert env.hosts == ("a", "b") and env.current_host == "b"
    assert env.num_cpus == 7
    assert env.output_data_dir == tmp_path / "od"
    assert env.hyperparameters == {**TEST_DEFAULTS, "model": "cnn", "epochs": "5", "batch_size": "8"}


def test_json_quoted_values_from_the_sdk_are_unquoted(tmp_path):
    tree = make_opt_ml(tmp_path, {})
    (tree.input_dir / "config" / "hyperparameters.json").write_text(json.dumps({"model": '"mlp"', "epochs": 4}))
    assert load_environment([], tree.environ()).hyperparameters == {"model": "mlp", "epochs": "4"}


def test_a_broken_config_file_is_named(tmp_path):
    tree = make_opt_ml(tmp_path, {})
    path = tree.input_dir / "config" / "hyperparameters.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="hyperparameters.json"):
        load_environment([], tree.environ())


def test_a_current_host_outside_the_host_list_is_refused(tmp_path):
    tree = make_opt_ml(tmp_path, {})
    with pytest.raises(ConfigError, match="SM_CURRENT_HOST"):
        load_environment([], {**tree.environ(), "SM_HOSTS": '["a"]', "SM_CURRENT_HOST": "z"})


@pytest.mark.parametrize("argv, message", [(["--epochs"], "needs a value"), (["cnn"], "unexpected argument")])
def test_malformed_flags_are_explained(argv, message):
    with pytest.raises(ConfigError, match=message):
        parse_flags(argv)
