import pytest
from training.errors import ConfigError
from training.hyperparameters import MODEL_DEFAULTS, parse_hyperparameters


def test_strings_become_typed_values_and_each_model_gets_its_recipe():
    hp = parse_hyperparameters({"model": "mlp", "epochs": "7", "dropout": "0.5", "augment": "false",
                                "sagemaker_program": "ignored"})
    assert (hp.epochs, hp.dropout, hp.augment) == (7, 0.5, False)
    assert hp.batch_size == MODEL_DEFAULTS["mlp"]["batch_size"]
    assert parse_hyperparameters({"model": "cnn"}).learning_rate == MODEL_DEFAULTS["cnn"]["learning_rate"]


def test_the_manifest_records_only_what_applies_to_the_model():
    values = parse_hyperparameters({"model": "cnn"}).for_model()
    assert "image_size" in values and "num_mfcc" not in values


@pytest.mark.parametrize("raw, message", [
    ({"model": "cnn", "epochs": "ten"}, "'epochs' must be an integer, got 'ten'"),
    ({"model": "cnn", "learning_rate": "fast"}, "'learning_rate' must be a number"),
    ({"model": "cnn", "augment": "maybe"}, "'augment' must be true or false"),
    ({"model": "rnn"}, "'model' must be one of cnn, mlp, got 'rnn'"),
    ({"epochs": "3"}, "'model' is required"),
    ({"model": "cnn", "epoch": "3"}, "unknown hyperparameter 'epoch'"),
    ({"model": "cnn", "validation_fraction": "1.5"}, "validation_fraction"),
    ({"model": "cnn", "batch_size": "0"}, "'batch_size' must be at least 1"),
    ({"model": "cnn", "precision": "fp16"}, "'precision' must be one of auto, bf16, fp32, got 'fp16'"),
])
def test_bad_values_name_the_key(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_hyperparameters(raw)


def test_precision_picks_the_autocast_dtype():
    import torch
    from training.cnn_training import autocast_dtype, native_bf16

    cpu = torch.device("cpu")
    assert autocast_dtype("fp32", cpu) is None
    assert autocast_dtype("bf16", cpu) is torch.bfloat16
    assert autocast_dtype("auto", cpu) is (torch.bfloat16 if native_bf16(cpu) else None)
