import keras
import numpy as np
import pytest
import tensorflow as tf

from sharedformer_tf.export import tflite
from sharedformer_tf.layers import LogMelSpectrogram
from sharedformer_tf.layers.log_mel_spectrogram import mel_weight_matrix
from tests.layer_test_case import run_layer_test


def waveforms(batch, samples, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 16000
    tones = np.sin(2 * np.pi * rng.uniform(100, 4000, (batch, 1)) * t)
    return (0.5 * tones + 0.05 * rng.standard_normal((batch, samples))).astype("float32")


def tf_signal_log_mel(x, frame_length, frame_step, fft_length, bins, lower, upper, offset):
    stft = tf.signal.stft(x, frame_length, frame_step, fft_length, pad_end=False)
    matrix = tf.signal.linear_to_mel_weight_matrix(bins, fft_length // 2 + 1, 16000, lower, upper)
    return tf.math.log(tf.matmul(tf.abs(stft) ** 2, matrix) + offset)


@pytest.mark.parametrize(
    "frame_length, frame_step, fft_length, bins, upper",
    [(400, 160, None, 40, None), (256, 128, 512, 20, 7600.0), (200, 80, 256, 8, 4000.0)],
)
def test_matches_tf_signal(frame_length, frame_step, fft_length, bins, upper):
    x = waveforms(3, 4000)
    layer = LogMelSpectrogram(frame_length=frame_length, frame_step=frame_step,
                              fft_length=fft_length, num_mel_bins=bins,
                              upper_edge_hertz=upper)  # fmt: skip
    got = np.asarray(layer(x))
    want = tf_signal_log_mel(x, frame_length, frame_step, fft_length or frame_length, bins,
                             20.0, upper or 8000.0, 1e-6).numpy()  # fmt: skip
    assert got.shape == want.shape == (3, 1 + (4000 - frame_length) // frame_step, bins)
    np.testing.assert_allclose(got, want, atol=2e-3, rtol=1e-4)


def test_mel_matrix_equals_tf_signal():
    want = tf.signal.linear_to_mel_weight_matrix(40, 201, 16000, 20.0, 8000.0).numpy()
    np.testing.assert_allclose(mel_weight_matrix(40, 201, 16000, 20.0, 8000.0), want, atol=1e-5)


def test_tflite_uses_builtins_and_matches_keras():
    model = keras.Sequential([keras.Input((16000,)), LogMelSpectrogram(num_mel_bins=16)])
    function = tf.function(model, input_signature=[tf.TensorSpec([None, 16000], tf.float32)])
    flatbuffer = tflite.convert_function(function, model)
    names = tflite.op_names(flatbuffer)
    assert "CONV_2D" in names and "LOG" in names, names
    assert not [n for n in names if n.startswith("Flex") or "FFT" in n], names
    from sharedformer_tf.export.tflite_classifier import TFLiteClassifier

    x = waveforms(2, 16000, seed=1)
    got = TFLiteClassifier(flatbuffer).predict(x)
    np.testing.assert_allclose(got, np.asarray(model(x)), atol=1e-3)


def test_silence_is_finite_and_the_layer_contract_holds(tmp_path):
    layer = LogMelSpectrogram(num_mel_bins=8, log_offset=1e-4)
    out = np.asarray(layer(np.zeros((1, 1600), "float32")))
    np.testing.assert_allclose(out, np.log(1e-4), rtol=1e-6)
    kwargs = {"num_mel_bins": 8, "log_offset": 1e-4}
    run_layer_test(LogMelSpectrogram, kwargs, waveforms(2, 1600), (2, 8, 8), tmp_path,
                   mixed_output_dtype=None)  # fmt: skip


@pytest.mark.parametrize(
    "kwargs, message",
    [({"frame_length": 0}, "frame_length"), ({"fft_length": 100}, "fft_length"),
     ({"upper_edge_hertz": 9000.0}, "upper_edge_hertz"), ({"log_offset": 0.0}, "log_offset"),
     ({"standardize": "utterance"}, "standardize")],
)  # fmt: skip
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LogMelSpectrogram(**kwargs)


def test_standardize_gives_zero_mean_unit_variance_per_clip():
    x = waveforms(2, 4000)
    x[1] *= 0.01  # a much quieter clip
    out = np.asarray(LogMelSpectrogram(num_mel_bins=8, standardize=True)(x))
    np.testing.assert_allclose(out.mean(axis=(1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(1, 2)), 1, atol=1e-3)


def test_band_standardization_cancels_a_fixed_coloring_of_each_band():
    x = waveforms(2, 4000)
    out = np.asarray(LogMelSpectrogram(num_mel_bins=8, standardize="band")(x))
    raw = np.asarray(LogMelSpectrogram(num_mel_bins=8)(x)).astype("float64")
    mean, variance = raw.mean(axis=1, keepdims=True), raw.var(axis=1, keepdims=True)
    np.testing.assert_allclose(out, (raw - mean) / np.sqrt(variance + 1e-5), atol=1e-4)
    np.testing.assert_allclose(out.mean(axis=1), 0, atol=1e-4)
    # A filter that scales every band by a constant gain (a channel, a
    # timbre) shifts each band's log power by a constant: "band" removes it,
    # "clip" keeps the bands' differences.
    layer = LogMelSpectrogram(num_mel_bins=8, log_offset=1e-12)
    gains = np.linspace(0.5, 3.0, 8).astype("float32")
    colored = np.asarray(layer(x)) + np.log(gains)
    for standardize, equal in (("band", True), ("clip", False)):
        normalize = LogMelSpectrogram(num_mel_bins=8, standardize=standardize)
        plain = np.asarray(normalize._standardized(np.asarray(layer(x))))
        shifted = np.asarray(normalize._standardized(colored))
        assert np.allclose(plain, shifted, atol=1e-4) == equal, standardize
