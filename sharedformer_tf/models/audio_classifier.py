import keras
from keras import ops

from sharedformer_tf.layers.log_mel_spectrogram import LogMelSpectrogram
from sharedformer_tf.layers.spec_augment import SpecAugment
from sharedformer_tf.models.audio_config import AudioConfig
from sharedformer_tf.models.patch_classifier import PatchClassifier


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class AudioClassifier(PatchClassifier):
    """Audio Transformer classifier (waveform in, logits out) whose encoder
    depths share parameters.

    A functional Keras model: the log-mel spectrogram is computed in the
    graph (`LogMelSpectrogram`, builtin TFLite ops), normalized per clip
    (zero mean, unit variance over all frames and bands, or over each mel
    band's frames: `config.normalization`), masked SpecAugment-style during training when the config
    asks (`time_masks`, `frequency_masks`; never at inference, so never in
    an export), optionally run through a convolutional stem
    (`stem_filters`, `stem_pooling`), cut into tokens of `frames_per_patch`
    frames with every band (`PatchEmbedding`), encoded by a pre-LN `SharedEncoder` following
    `config.plan`, pooled and classified by a float32 dense layer.

    Args:
        config: `AudioConfig` (or its dict), e.g. `models.audio_config.tiny()`.
        dtype: optional dtype policy for all layers (e.g. `"mixed_bfloat16"`).
        **kwargs: `keras.Model` arguments such as `name`.

    Call arguments:
        waveforms: float tensor `[batch, clip_samples]` at
            `config.sample_rate`, samples in about `[-1, 1]`.

    Returns:
        float32 logits `[batch, num_classes]`.

    Example:

    >>> from sharedformer_tf.models import audio_config
    >>> model = AudioClassifier(audio_config.tiny(hidden_dim=8, num_heads=2,
    ...                                           intermediate_dim=16))
    >>> tuple(model(keras.ops.zeros((2, 16000))).shape)
    (2, 12)
    """

    # Exports keep the spectrogram float in int8 models: a power spectrum
    # spans more range than one int8 scale holds (full int8 drops a trained
    # model from 98% to 29% accuracy; the transformer alone in int8 keeps it).
    int8_float_layers = ("log_mel",)

    def __init__(self, config, dtype=None, **kwargs):
        config = AudioConfig.coerce(config)
        c = config
        waveforms = keras.Input((c.clip_samples,), name="waveforms")
        # The front end runs in float32 whatever the policy: log power spans
        # more range than bfloat16 resolves well.
        x = LogMelSpectrogram(c.sample_rate, c.frame_length, c.frame_step,
                              num_mel_bins=c.num_mel_bins, standardize=c.normalization,
                              dtype="float32",
                              name="log_mel")(waveforms)  # fmt: skip
        if c.time_masks or c.frequency_masks:
            masking = SpecAugment(
                c.time_masks,
                c.time_mask_frames,
                c.frequency_masks,
                c.frequency_mask_bands,
                dtype="float32",
                name="spec_augment",
            )
            x = masking(x)
        x = ops.expand_dims(x, -1)  # [batch, frames, bands, 1]
        stem = {"stem_filters": c.stem_filters, "stem_pooling": c.stem_pooling,
                "stem_activation": c.stem_activation}  # fmt: skip
        patch_size = (c.frames_per_patch, c.token_grid[1])
        super().__init__(waveforms, x, config, patch_size, dtype, stem, **kwargs)
