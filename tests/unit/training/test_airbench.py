"""The airbench family: its whitening layer, its training extras, its export and its hyperparameters."""

import numpy as np
import pytest
import torch
from training.airbench_training import BIAS_SCALER, LOOKAHEAD_EVERY, WHITEN_BIAS_EPOCHS, AirbenchRecipe
from training.cnn_training import CNNTrainer, predict_with_artifact
from training.data.folders import Dataset
from training.distributed import Topology
from training.errors import ConfigError
from training.hyperparameters import parse_hyperparameters, with_family
from training.models.airbench import AirbenchClassifier
from training.models.cnn import CNNConfig, build_classifier

SINGLE = Topology(hosts=("algo-1",), host_rank=0, processes_per_host=1, local_rank=0, port=0)


def images(n=64, size=16, seed=0):
    """Correlated RGB (the channels share most of their signal), so whitening has something to undo."""
    rng = np.random.default_rng(seed)
    base = rng.random((n, 1, size, size))
    noise = rng.random((n, 3, size, size)) * 0.2
    return torch.from_numpy(np.clip(base * 0.8 + noise, 0, 1)).float()


def test_the_first_layer_whitens_the_patches_it_was_set_from():
    model = AirbenchClassifier(CNNConfig(num_classes=3, image_size=16, width=4))
    x = images()
    model.init_whitening(x)
    with torch.no_grad():
        out = model.whiten(model.normalise(x))[:, :12]  # one sign of each filter
    features = out.permute(0, 2, 3, 1).reshape(-1, 12).double()
    covariance = torch.cov(features.T)
    # Unit variance along every direction the patches vary in (the epsilon damps the weakest ones).
    assert torch.allclose(torch.diag(covariance)[:6], torch.ones(6, dtype=torch.float64), atol=0.05)
    off_diagonal = covariance - torch.diag(torch.diag(covariance))
    assert off_diagonal.abs().max() < 0.05
    assert not model.whiten.weight.requires_grad and model.whiten.bias.requires_grad


def test_build_classifier_makes_each_family_and_refuses_others():
    assert isinstance(build_classifier(CNNConfig(3, family="airbench", width=4)), AirbenchClassifier)
    assert type(build_classifier(CNNConfig(3, width=4))).__name__ == "ImageClassifier"
    with pytest.raises(ValueError, match="unknown CNN family 'dense'"):
        build_classifier(CNNConfig(3, family="dense"))


def dataset(n=48, size=16, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (n, 3, size, size), dtype=np.uint8)
    return Dataset(pixels, rng.integers(0, classes, n), [f"c{i}" for i in range(classes)], None, None)


def trainer(epochs=4, **given):
    raw = {"model": "cnn", "family": "airbench", "width": "4", "epochs": str(epochs), "image_size": "16"}
    raw.update({"batch_size": "8", "precision": "fp32", **given})
    hp = parse_hyperparameters(raw)
    data = dataset()
    return CNNTrainer(hp, data, data, SINGLE, torch.device("cpu"))


def test_the_family_recipe_fills_only_what_was_not_given():
    hp = parse_hyperparameters({"model": "cnn", "family": "airbench", "momentum": "0.9"})
    assert (hp.batch_size, hp.learning_rate, hp.label_smoothing, hp.momentum) == (1024, 1.5, 0.2, 0.9)
    auto = parse_hyperparameters({"model": "cnn", "batch_size": "64"})
    assert (auto.family, auto.batch_size, auto.momentum) == ("auto", 64, 0.9)
    chosen = with_family(auto, "airbench")
    assert (chosen.family, chosen.batch_size, chosen.momentum, chosen.warmup_fraction) == ("airbench", 64, 0.85, 0.23)
    assert with_family(auto, "residual") == auto.__class__(**{**auto.__dict__, "family": "residual"})
    with pytest.raises(ConfigError, match="'family' must be one of auto, residual, airbench"):
        parse_hyperparameters({"model": "cnn", "family": "dense"})
    with pytest.raises(ConfigError, match="'given'"):
        parse_hyperparameters({"model": "cnn", "given": "width"})


def test_batchnorm_shifts_learn_faster_and_the_whitening_bias_stops_after_its_epochs():
    t = trainer()
    recipe = t.airbench
    assert isinstance(recipe, AirbenchRecipe)
    shifts, whitening, others = t.optimizer.param_groups
    recipe.set_learning_rates(t.optimizer, 0.5, step=0)
    assert shifts["lr"] == 0.5 * BIAS_SCALER
    assert shifts["weight_decay"] * BIAS_SCALER == pytest.approx(t.hp.weight_decay)  # the same decay per step
    assert whitening["lr"] == others["lr"] == 0.5
    recipe.set_learning_rates(t.optimizer, 0.5, step=WHITEN_BIAS_EPOCHS * t.steps_per_epoch)
    assert whitening["lr"] == 0.0 and others["lr"] == 0.5
    trained = {id(p) for group in t.optimizer.param_groups for p in group["params"]}
    assert id(t.classifier.whiten.weight) not in trained  # frozen: not even given to the optimizer


def test_flips_are_random_in_the_first_epoch_then_alternate():
    t = trainer()
    index = torch.arange(48)
    first = t.airbench.flips(index, step=0)
    assert 0 < int(first.sum()) < 48
    second = t.airbench.flips(index, step=t.steps_per_epoch)
    third = t.airbench.flips(index, step=2 * t.steps_per_epoch)
    assert torch.equal(second, ~first) and torch.equal(third, first)


def test_lookahead_pulls_the_weights_to_their_average_and_export_serves_the_average(tmp_path):
    t = trainer()
    head = t.classifier.head.weight
    before = head.detach().clone()
    for step in range(LOOKAHEAD_EVERY - 1):  # no pull before the 5th step
        t.train_batch(t.batches(0)[step % t.steps_per_epoch], 0.1, step)
    assert not torch.equal(head, t.airbench.average["head.weight"])
    t.train_batch(t.batches(0)[0], 0.1, LOOKAHEAD_EVERY - 1)
    assert torch.equal(head, t.airbench.average["head.weight"])  # pulled, and reset to it
    assert not torch.equal(head, before)
    with torch.no_grad():
        head.add_(1.0)  # the weights wander off; finishing takes them back to the average
    path = t.export(tmp_path)
    assert torch.equal(head, t.airbench.average["head.weight"])
    probabilities = predict_with_artifact(path, dataset(n=5).inputs)
    assert probabilities.shape == (5, 3) and np.allclose(probabilities.sum(1), 1.0, atol=1e-5)
    assert (tmp_path / "explain.pt2").is_file()


def test_a_checkpoint_carries_the_weight_average(tmp_path):
    t = trainer()
    for step in range(LOOKAHEAD_EVERY):
        t.train_batch(t.batches(0)[step % t.steps_per_epoch], 0.1, step)
    t.write_state(tmp_path / "state.pt")
    restored = trainer()
    restored.read_state(tmp_path / "state.pt")
    for key, value in t.airbench.average.items():
        assert torch.equal(restored.airbench.average[key], value), key
