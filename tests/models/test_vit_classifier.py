import keras
import numpy as np
import pytest

import sharedformer_tf as sf
from sharedformer_tf import SharingPlan
from sharedformer_tf.models import ViTClassifier, vit_config


def tiny(**changes):
    base = dict(hidden_dim=8, num_heads=2, intermediate_dim=16, plan=SharingPlan(4, strategy="all"))
    return vit_config.tiny(**{**base, **changes})


def images(n=4, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28, 1)).astype("uint8")


def test_logits_shape_and_dtype_from_uint8_images():
    model = ViTClassifier(tiny())
    logits = model(images())
    assert logits.shape == (4, 10) and logits.dtype == "float32"


@pytest.mark.parametrize("pooling", ["class_token", "mean"])
def test_sharing_stores_one_group(pooling):
    shared = ViTClassifier(tiny(pooling=pooling))
    plain = ViTClassifier(tiny(pooling=pooling, plan=SharingPlan(4, strategy="none")))
    shared_report, plain_report = sf.parameter_report(shared), sf.parameter_report(plain)
    assert shared_report["effective_params"] == plain_report["unique_params"]
    assert len(shared.encoder.self_attention_layers) == 1
    assert shared_report["unique_params"] < plain_report["unique_params"]


def test_default_preset_stores_under_a_third_of_the_unshared_model():
    shared = sf.parameter_report(ViTClassifier(vit_config.tiny()))
    plain = sf.parameter_report(
        ViTClassifier(vit_config.tiny(plan=SharingPlan(8, strategy="none")))
    )
    assert shared["unique_params"] * 3 <= plain["unique_params"]


def test_keras_save_load_round_trips_exactly(tmp_path):
    model = ViTClassifier(tiny(plan=SharingPlan(4, 2, strategy="cycle")))
    path = tmp_path / "vit.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert isinstance(loaded, ViTClassifier)
    np.testing.assert_array_equal(loaded(images()), model(images()))
    assert len(loaded.encoder.self_attention_layers) == 2


def test_learns_a_separable_task():
    # Class = which half of the image is bright.
    rng = np.random.default_rng(0)
    x = rng.integers(0, 60, (256, 28, 28, 1)).astype("uint8")
    y = rng.integers(0, 2, 256)
    x[y == 1, :14] += 150
    x[y == 0, 14:] += 150
    model = ViTClassifier(tiny(num_classes=2))
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.95


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"patch_size": 5}, "patch_size=5"),
        ({"num_heads": 3}, "num_heads=3"),
        ({"pooling": "max"}, "'max'"),
        ({"num_classes": 0}, "num_classes"),
    ],
)
def test_bad_configs_name_what_they_received(changes, message):
    with pytest.raises(ValueError, match=message):
        tiny(**changes)


def test_config_dict_round_trip_and_unknown_fields():
    config = vit_config.small()
    assert vit_config.ViTConfig.coerce(config.to_dict()) == config
    with pytest.raises(ValueError, match="Unknown ViTConfig fields"):
        vit_config.ViTConfig.coerce({**config.to_dict(), "depth": 3})
    with pytest.raises(ValueError, match="Received: 'huge'"):
        vit_config.preset("huge")


def test_config_names_a_bad_stem():
    with pytest.raises(ValueError, match="Received: stem_activation='swish'"):
        vit_config.tiny(stem_activation="swish")
    with pytest.raises(ValueError, match=r"after the stem's pooling: 4\). Received: image_size=28"):
        vit_config.tiny(patch_size=3)
    config = vit_config.tiny(stem_filters=[8, 8, 8])
    assert config.stem_filters == (8, 8, 8)  # a JSON list back to a tuple
    assert vit_config.tiny(stem_filters=(), stem_pooling=False, patch_size=4).stem_filters == 0
    assert vit_config.tiny(stem_filters=[16], stem_pooling=False, patch_size=4).stem_filters == 16
    assert vit_config.ViTConfig.from_dict(config.to_dict()) == config
