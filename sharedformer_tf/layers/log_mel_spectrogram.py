import keras
import numpy as np
from keras import ops

from sharedformer_tf.validation import check_positive_int


def hann_window(length):
    """Periodic Hann window (as `tf.signal.hann_window(length)`)."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)


def mel_weight_matrix(num_mel_bins, num_spectrogram_bins, sample_rate, lower_edge_hertz,
                      upper_edge_hertz):  # fmt: skip
    """`[num_spectrogram_bins, num_mel_bins]` triangular filters on the HTK
    mel scale, the same matrix as `tf.signal.linear_to_mel_weight_matrix`
    (the DC bin gets no weight)."""

    def to_mel(hertz):
        return 1127.0 * np.log1p(np.asarray(hertz, "float64") / 700.0)

    bins_hertz = np.linspace(0.0, sample_rate / 2, num_spectrogram_bins)[1:]
    edges = np.linspace(to_mel(lower_edge_hertz), to_mel(upper_edge_hertz), num_mel_bins + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    mel = to_mel(bins_hertz)[:, None]
    rising = (mel - lower) / (center - lower)
    falling = (upper - mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.pad(weights, [[1, 0], [0, 0]]).astype("float32")


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class LogMelSpectrogram(keras.layers.Layer):
    """Log-mel spectrogram of raw waveforms, built from ops every runtime has.

    Framing, windowing and the real DFT are one strided 1-D convolution with
    a fixed windowed cosine/sine basis (a framed matmul DFT), so the layer
    exports to TFLite as `CONV_2D`, `MUL`, `ADD`, `FULLY_CONNECTED`/
    `BATCH_MATMUL` and `LOG` (no FFT or Flex op). It matches
    `tf.signal.stft` (periodic Hann window, no end padding) followed by
    `|.|^2`, `tf.signal.linear_to_mel_weight_matrix` and `log(x + offset)`.
    The basis and filter bank are constants, not weights.

    Args:
        sample_rate: int, Hz.
        frame_length: int, samples per frame (400 = 25 ms at 16 kHz).
        frame_step: int, samples between frames (160 = 10 ms at 16 kHz).
        fft_length: int >= `frame_length`; `frame_length` by default.
        num_mel_bins: int.
        lower_edge_hertz: float, lowest mel filter edge.
        upper_edge_hertz: float, highest mel filter edge; `sample_rate / 2`
            by default.
        log_offset: float added to the mel power before the log.
        standardize: `False`, `True` (the same as `"clip"`) or `"band"`.
            `"clip"` scales each clip's log-mel spectrogram to zero mean and
            unit variance over all its frames and bands, so the loudness of
            a recording does not matter. `"band"` does it for each mel band
            over the clip's frames (cepstral mean and variance
            normalization): a fixed coloring of the voice or the channel
            (a microphone, a synthesizer's timbre) cancels too.
        **kwargs: `keras.layers.Layer` arguments such as `name` and `dtype`.

    Call arguments:
        waveforms: float tensor `[batch, samples]`, samples in about
            `[-1, 1]`, `samples >= frame_length`.

    Returns:
        `[batch, frames, num_mel_bins]` with
        `frames = 1 + (samples - frame_length) // frame_step`.

    Example:

    >>> layer = LogMelSpectrogram(num_mel_bins=8)
    >>> tuple(layer(keras.ops.zeros((2, 16000))).shape)
    (2, 98, 8)
    """

    def __init__(self, sample_rate=16000, frame_length=400, frame_step=160, fft_length=None,
                 num_mel_bins=40, lower_edge_hertz=20.0, upper_edge_hertz=None,
                 log_offset=1e-6, standardize=False, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        check_positive_int(sample_rate=sample_rate, frame_length=frame_length,
                           frame_step=frame_step, num_mel_bins=num_mel_bins)  # fmt: skip
        if fft_length is not None and (not isinstance(fft_length, int) or
                                       fft_length < frame_length):  # fmt: skip
            raise ValueError(
                "`fft_length` must be an integer >= `frame_length`. Received: "
                f"fft_length={fft_length}, frame_length={frame_length}"
            )
        nyquist = sample_rate / 2
        upper = nyquist if upper_edge_hertz is None else upper_edge_hertz
        if not 0 <= lower_edge_hertz < upper <= nyquist:
            raise ValueError(
                "Expected 0 <= lower_edge_hertz < upper_edge_hertz <= sample_rate / 2. "
                f"Received: lower_edge_hertz={lower_edge_hertz}, "
                f"upper_edge_hertz={upper_edge_hertz}, sample_rate={sample_rate}"
            )
        if standardize not in (False, True, "clip", "band"):
            raise ValueError(
                "`standardize` must be False, True, 'clip' or 'band'. "
                f"Received: standardize={standardize!r}"
            )
        if not log_offset > 0:
            raise ValueError(f"`log_offset` must be > 0. Received: log_offset={log_offset}")
        self.sample_rate = sample_rate
        self.frame_length = frame_length
        self.frame_step = frame_step
        self.fft_length = fft_length
        self.num_mel_bins = num_mel_bins
        self.lower_edge_hertz = lower_edge_hertz
        self.upper_edge_hertz = upper_edge_hertz
        self.log_offset = log_offset
        self.standardize = standardize

    def build(self, waveforms_shape):
        fft_length = self.fft_length or self.frame_length
        num_bins = fft_length // 2 + 1
        # x[n] * w[n] * exp(-2 pi i k n / N): real and imaginary parts.
        angles = 2 * np.pi * np.outer(np.arange(self.frame_length), np.arange(num_bins))
        angles /= fft_length
        window = hann_window(self.frame_length)[:, None]
        basis = np.concatenate([window * np.cos(angles), -window * np.sin(angles)], axis=1)
        self._dft_kernel = basis[:, None, :].astype("float32")  # [length, 1, 2 * bins]
        upper = self.upper_edge_hertz or self.sample_rate / 2
        self._mel_matrix = mel_weight_matrix(self.num_mel_bins, num_bins, self.sample_rate,
                                             self.lower_edge_hertz, upper)  # fmt: skip
        self._num_bins = num_bins

    def call(self, waveforms):
        x = ops.cast(waveforms, self.compute_dtype)[:, :, None]
        kernel = ops.convert_to_tensor(self._dft_kernel, dtype=self.compute_dtype)
        spectrum = ops.conv(x, kernel, strides=self.frame_step, padding="valid")
        real, imaginary = spectrum[..., : self._num_bins], spectrum[..., self._num_bins :]
        power = real * real + imaginary * imaginary
        mel = ops.matmul(power, ops.convert_to_tensor(self._mel_matrix, self.compute_dtype))
        log_mel = ops.log(mel + self.log_offset)
        return self._standardized(log_mel) if self.standardize else log_mel

    def _standardized(self, log_mel):
        axes = 1 if self.standardize == "band" else (1, 2)
        mean = ops.mean(log_mel, axis=axes, keepdims=True)
        variance = ops.mean(ops.square(log_mel - mean), axis=axes, keepdims=True)
        return (log_mel - mean) * ops.rsqrt(variance + 1e-5)

    def compute_output_shape(self, waveforms_shape):
        samples = waveforms_shape[1]
        frames = None if samples is None else 1 + (samples - self.frame_length) // self.frame_step
        return (waveforms_shape[0], frames, self.num_mel_bins)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sample_rate": self.sample_rate,
                "frame_length": self.frame_length,
                "frame_step": self.frame_step,
                "fft_length": self.fft_length,
                "num_mel_bins": self.num_mel_bins,
                "lower_edge_hertz": self.lower_edge_hertz,
                "upper_edge_hertz": self.upper_edge_hertz,
                "log_offset": self.log_offset,
                "standardize": self.standardize,
            }
        )
        return config
