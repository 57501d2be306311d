import pytest
from training.errors import ConfigError
from training.hyperparameters import parse_hyperparameters


def test_strings_become_typed_values_and_each_model_gets_its_recipe():
    hp = parse_hyperparameters(
        {"model": "mlp", "epochs": "7", "dropout": "0.5", "augment": "false", "sagemaker_program": "ignored"}
    )
    assert (hp.epochs, hp.dropout, hp.augment) == (7, 0.5, False)
    cnn, mlp = parse_hyperparameters({"model": "cnn"}), parse_hyperparameters({"model": "mlp"})
    # each model has its own recipe for the common settings, and a given value wins over it
    assert (cnn.epochs, cnn.batch_size, cnn.learning_rate) != (mlp.epochs, mlp.batch_size, mlp.learning_rate)
    assert parse_hyperparameters({"model": "cnn", "batch_size": "7"}).batch_size == 7
    assert hp.batch_size == mlp.batch_size  # a value given for one setting leaves the others to the recipe


def test_the_manifest_records_only_what_applies_to_the_model():
    values = parse_hyperparameters({"model": "cnn"}).for_model()
    assert "image_size" in values and "num_mfcc" not in values


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"model": "cnn", "epochs": "ten"}, "'epochs' must be an integer, got 'ten'"),
        ({"model": "cnn", "learning_rate": "fast"}, "'learning_rate' must be a number"),
        ({"model": "cnn", "augment": "maybe"}, "'augment' must be true or false"),
        ({"model": "rnn"}, "'model' must be one of cnn, mlp, got 'rnn'"),
        ({"epochs": "3"}, "'model' is required"),
        ({"model": "cnn", "epoch": "3"}, "unknown hyperparameter 'epoch'"),
        ({"model": "cnn", "validation_fraction": "1.5"}, "validation_fraction"),
        ({"model": "cnn", "batch_size": "0"}, r"'batch_size' must be in \[1, 1048576\], got 0"),
        ({"model": "cnn", "precision": "fp16"}, "'precision' must be one of auto, bf16, fp32, got 'fp16'"),
    ],
)
def test_bad_values_name_the_key(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_hyperparameters(raw)


@pytest.mark.parametrize(
    "key, text, bounds",
    [
        ("learning_rate", "inf", r"\(0, 100\]"),
        ("learning_rate", "-inf", r"\(0, 100\]"),
        ("weight_decay", "1e400", r"\[0, 1\]"),  # overflows to infinity
        ("label_smoothing", "2", r"\[0, 1\)"),
        ("momentum", "-1", r"\[0, 1\)"),
        ("crop_padding", "-5", r"\[0, 2048\]"),
        ("time_budget_s", "inf", r"\[0, 2419200\]"),
        ("dropout", "1", r"\[0, 1\)"),
        ("sample_rate", "2147483647", r"\[1000, 192000\]"),
        ("clip_seconds", "0", r"\(0, 600\]"),
        ("noise_snr_db", "-inf", r"\[-100, 200\]"),
        ("dist_port", "70000", r"\[1, 65535\]"),
    ],
)
def test_every_numeric_value_is_checked_against_its_range(key, text, bounds):
    model = "mlp" if key in ("sample_rate", "clip_seconds", "noise_snr_db", "dropout") else "cnn"
    with pytest.raises(ConfigError, match=f"hyperparameter '{key}' must be in {bounds}, got "):
        parse_hyperparameters({"model": model, key: text})


def test_every_numeric_hyperparameter_has_a_range():
    import dataclasses

    from training.hyperparameters import RANGES, Hyperparameters

    numeric = {f.name for f in dataclasses.fields(Hyperparameters) if f.type in ("int", "float")}
    assert numeric == set(RANGES)


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"model": "cnn", "crop_padding": "16"}, "'crop_padding' must be less than half of image_size"),
        ({"model": "mlp", "num_mfcc": "50"}, "'num_mfcc' must be at most num_mel_bins"),
        ({"model": "mlp", "frame_step": "512"}, "'frame_step' must be at most frame_length"),
    ],
)
def test_related_values_are_checked_together(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_hyperparameters(raw)


def test_the_defaults_of_both_models_are_in_range():
    parse_hyperparameters({"model": "cnn"})
    parse_hyperparameters({"model": "mlp"})


@pytest.mark.parametrize("native", [True, False])
def test_precision_picks_the_autocast_dtype(monkeypatch, native):
    import torch

    from training import cnn_training

    monkeypatch.setattr(cnn_training, "native_bf16", lambda device: native)
    cpu = torch.device("cpu")
    assert cnn_training.autocast_dtype("fp32", cpu) is None
    assert cnn_training.autocast_dtype("bf16", cpu) is torch.bfloat16
    # auto: bf16 only where it runs natively (emulated bf16 is slower than float32)
    assert cnn_training.autocast_dtype("auto", cpu) is (torch.bfloat16 if native else None)


def test_the_cnn_width_and_epochs_default_to_auto_and_only_the_cnn_takes_zero_epochs():
    cnn = parse_hyperparameters({"model": "cnn"})
    assert (cnn.width, cnn.epochs, cnn.probe_seconds) == (0, 0, 2.0)
    with pytest.raises(ConfigError, match="'epochs' must be at least 1 for model 'mlp'"):
        parse_hyperparameters({"model": "mlp", "epochs": "0"})
    with pytest.raises(ConfigError, match=r"'probe_seconds' must be in \(0, 60\]"):
        parse_hyperparameters({"model": "cnn", "probe_seconds": "0"})
