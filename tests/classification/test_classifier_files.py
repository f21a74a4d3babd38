import json

import numpy as np
import pytest

from sharedformer_tf import SharingPlan, training
from sharedformer_tf.classification import load_classifier, save_classifier
from sharedformer_tf.models import ViTClassifier, vit_config


def tiny_model():
    config = vit_config.tiny(hidden_dim=8, num_heads=2, intermediate_dim=16, num_classes=3,
                             plan=SharingPlan(4, 2, strategy="cycle"))  # fmt: skip
    return ViTClassifier(config)


def write_config(directory, class_names):
    training.write_run_config(directory, {"data": "x"}, model={}, class_names=class_names)


def test_save_and_load_round_trip(tmp_path):
    model = tiny_model()
    save_classifier(model, tmp_path)
    write_config(tmp_path, ["a", "b", "c"])
    loaded, run_config = load_classifier(tmp_path)
    assert run_config["class_names"] == ["a", "b", "c"]
    assert not list(tmp_path.glob("*.tmp*"))
    x = np.random.default_rng(0).integers(0, 256, (2, 28, 28, 1)).astype("float32")
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))


def test_missing_or_mismatched_files_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a trained classifier directory"):
        load_classifier(tmp_path)
    save_classifier(tiny_model(), tmp_path)
    write_config(tmp_path, ["a", "b"])
    with pytest.raises(ValueError, match="names 2 classes but the model has 3"):
        load_classifier(tmp_path)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / "config.json").write_text("{not json"), r"config\.json is not valid JSON"),
        (lambda d: (d / "config.json").write_text(json.dumps({"run": {}, "class_names": ["a"]})),
         r"config\.json has no 'model' section"),
        (lambda d: (d / "config.json").write_text(json.dumps({"run": {}, "model": {},
                                                              "class_names": "abc"})),
         "class_names must be a list"),
        (lambda d: (d / "model.keras").write_bytes((d / "model.keras").read_bytes()[:500]),
         r"model\.keras is not a loadable Keras model"),
    ],
)  # fmt: skip
def test_damaged_files_are_named(tmp_path, damage, message):
    save_classifier(tiny_model(), tmp_path)
    write_config(tmp_path, ["a", "b", "c"])
    damage(tmp_path)
    with pytest.raises(ValueError, match=message):
        load_classifier(tmp_path)
