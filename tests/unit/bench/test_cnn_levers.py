"""benchmarks.cnn_levers on a real exported artifact and a real folder of 32x32 images."""

import numpy as np
import torch
from PIL import Image
from training.cnn_training import predict_with_artifact
from training.data.images import ImageSettings, load_image_folder
from training.models.cnn import CNNConfig, build_classifier, export_cnn

from benchmarks.cnn_levers import tta_translate


def test_tta_translate_reports_the_artifacts_own_accuracy_beside_the_translated_one(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (tmp_path / "holdout" / name).mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "holdout" / name / f"{i}.png")
    torch.manual_seed(0)
    classifier = build_classifier(CNNConfig(2, family="airbench", width=4)).eval()
    classifier.init_whitening(torch.rand(8, 3, 32, 32))
    export_cnn(classifier, tmp_path / "model.pt2", test_time_flip=True)

    [row] = tta_translate(tmp_path / "holdout", [tmp_path / "model.pt2"])

    data = load_image_folder(tmp_path / "holdout", ImageSettings(32))
    own = predict_with_artifact(tmp_path / "model.pt2", data.inputs).argmax(1)
    assert row["accuracy_flip"] == round(float((own == data.labels).mean()), 4)
    assert 0.0 <= row["accuracy_flip_translate"] <= 1.0
