import keras
import numpy as np
import pytest
import tensorflow as tf

import sharedformer_tf as sf
from sharedformer_tf import SharingPlan
from sharedformer_tf.models import AudioClassifier, audio_config


def tiny(**changes):
    base = dict(hidden_dim=8, num_heads=2, intermediate_dim=16, num_mel_bins=10,
                plan=SharingPlan(4, 2, strategy="cycle"))  # fmt: skip
    return audio_config.tiny(**{**base, **changes})


def waveforms(n=3, seed=0, samples=16000):
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal((n, samples))).astype("float32")


def test_logits_from_waveforms():
    model = AudioClassifier(tiny())
    logits = model(waveforms())
    assert logits.shape == (3, 12) and logits.dtype == "float32"
    assert model.patch_embedding.num_patches == 25  # the preset's stem pools 98 frames to 25
    plain = AudioClassifier(tiny(stem_filters=0, frames_per_patch=2))
    assert plain(waveforms()).shape == (3, 12) and plain.patch_embedding.num_patches == 49


def test_loudness_does_not_change_the_output():
    model = AudioClassifier(tiny())
    x = waveforms()
    np.testing.assert_allclose(np.asarray(model(4 * x)), np.asarray(model(x)), atol=1e-4)


def test_default_preset_stores_under_a_third_of_the_unshared_model():
    shared = sf.parameter_report(AudioClassifier(audio_config.tiny()))
    plain = sf.parameter_report(
        AudioClassifier(audio_config.tiny(plan=SharingPlan(8, strategy="none")))
    )
    assert shared["effective_params"] == plain["unique_params"]
    assert shared["unique_params"] * 3 <= plain["unique_params"]


def test_a_convolutional_stem_tokenizes_the_pooled_grid_and_exports_builtin(tmp_path):
    from sharedformer_tf.export import tflite
    from sharedformer_tf.export.classifier_export import export_classifier
    from sharedformer_tf.export.tflite_classifier import TFLiteClassifier

    config = tiny(stem_filters=(4, 8), stem_pooling=True, stem_activation="relu",
                  frames_per_patch=5)  # fmt: skip
    assert config.token_grid == (25, 3)  # 98 x 10 -> 49 x 5 -> 25 x 3
    model = AudioClassifier(config)
    x = waveforms()
    assert model(x).shape == (3, 12) and model.patch_embedding.num_patches == 5
    assert [c.filters for c in [model.patch_embedding.stem, *model.patch_embedding.stem_convs]] \
        == [4, 8]  # fmt: skip
    model.save(tmp_path / "stem.keras")
    loaded = keras.models.load_model(tmp_path / "stem.keras", safe_mode=True)
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))
    export_classifier(model, [f"c{i}" for i in range(12)], tmp_path, ["fp32", "int8"],
                      representative_inputs=waveforms(8, seed=1),
                      input_dtype=tf.float32)  # fmt: skip
    for name in ("fp32", "int8"):
        ops = tflite.op_names((tmp_path / f"classifier_{name}.tflite").read_bytes())
        assert "CONV_2D" in ops and "MAX_POOL_2D" in ops
        assert not [op for op in ops if op.startswith("FLEX") or op == "CUSTOM"]
    got = TFLiteClassifier(tmp_path / "classifier_fp32.tflite").predict(x)
    np.testing.assert_allclose(got, np.asarray(keras.ops.softmax(model(x))), atol=1e-5)


def test_keras_save_load_round_trips_exactly(tmp_path):
    model = AudioClassifier(tiny(pooling="mean"))
    model.save(tmp_path / "audio.keras")
    loaded = keras.models.load_model(tmp_path / "audio.keras", safe_mode=True)
    assert isinstance(loaded, AudioClassifier) and loaded.config == model.config
    np.testing.assert_array_equal(np.asarray(loaded(waveforms())), np.asarray(model(waveforms())))
    assert len(loaded.encoder.self_attention_layers) == 2


def test_mixed_precision_keeps_the_front_end_in_float32():
    model = AudioClassifier(tiny(), dtype="mixed_bfloat16")
    assert model.get_layer("log_mel").compute_dtype == "float32"
    assert model.encoder.compute_dtype == "bfloat16"
    assert model(waveforms()).dtype == "float32"


def test_learns_tones():
    # Class = a low or a high tone, at random phase and loudness.
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    y = rng.integers(0, 2, 128)
    frequency = np.where(y == 1, 2500.0, 300.0)[:, None]
    x = rng.uniform(0.05, 0.8, (128, 1)) * np.sin(2 * np.pi * frequency * t + rng.uniform(0, 6))
    x = (x + 0.02 * rng.standard_normal(x.shape)).astype("float32")
    model = AudioClassifier(tiny(num_classes=2))
    model.compile(keras.optimizers.Adam(3e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])  # fmt: skip
    history = model.fit(x, y, epochs=6, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.95


@pytest.mark.parametrize(
    "changes, message",
    [({"frames_per_patch": 4}, "frames_per_patch=4"), ({"num_heads": 3}, "num_heads=3"),
     ({"clip_samples": 100}, "clip_samples=100"), ({"pooling": "max"}, "'max'"),
     ({"normalization": "time"}, "normalization='time'"),
     ({"stem_filters": 4, "stem_activation": "tanh"}, "stem_activation='tanh'"),
     ({"stem_filters": (4, 8), "stem_pooling": True, "frames_per_patch": 2},
      "the 25 frames of a clip .after the stem")],
)  # fmt: skip
def test_bad_configs_name_what_they_received(changes, message):
    with pytest.raises(ValueError, match=message):
        tiny(**changes)


def test_config_dict_round_trip():
    config = audio_config.small()
    assert audio_config.AudioConfig.coerce(config.to_dict()) == config
    with pytest.raises(ValueError, match="Unknown AudioConfig fields"):
        audio_config.AudioConfig.coerce({**config.to_dict(), "depth": 3})


def test_spec_augment_masks_in_training_only_and_never_reaches_an_export(tmp_path):
    from sharedformer_tf.export import tflite
    from sharedformer_tf.export.classifier_export import export_classifier
    from sharedformer_tf.export.tflite_classifier import TFLiteClassifier

    plain = AudioClassifier(tiny(time_masks=0, frequency_masks=0))
    masked = AudioClassifier(tiny(time_masks=2, time_mask_frames=20, frequency_masks=1,
                                  frequency_mask_bands=4))  # fmt: skip
    masked.set_weights(plain.get_weights())  # the masking layer has no weights
    assert masked.get_layer("spec_augment").num_time_masks == 2
    x = waveforms()
    np.testing.assert_array_equal(np.asarray(masked(x)), np.asarray(plain(x)))
    assert not np.allclose(np.asarray(masked(x, training=True)), np.asarray(plain(x)))
    names = [f"c{i}" for i in range(12)]
    export_classifier(masked, names, tmp_path, ["fp32"], input_dtype=tf.float32)
    flatbuffer = (tmp_path / "classifier_fp32.tflite").read_bytes()
    # No random or masking op in the file, and the unmasked model's outputs.
    assert not [op for op in tflite.op_names(flatbuffer) if "RANDOM" in op or op == "SELECT_V2"]
    got = TFLiteClassifier(tmp_path / "classifier_fp32.tflite").predict(x)
    np.testing.assert_allclose(got, np.asarray(keras.ops.softmax(plain(x))), atol=1e-5)


def test_spec_augment_counts_must_not_be_negative():
    with pytest.raises(ValueError, match="Received: time_masks=-1"):
        tiny(time_masks=-1)
