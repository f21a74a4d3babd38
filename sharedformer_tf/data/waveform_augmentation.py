"""Waveform augmentation for training keyword spotters on synthetic speech,
run in tf.data (so no exported model ever contains it).

Each named augmentation is applied to a random half of a batch's clips, with
its own random strength per clip, all drawn with stateless random ops from
one seed per batch (`make_array_dataset(augment=...)` draws those seeds from
`tf.data.Dataset.random`, different every epoch and the same for a seed):

- `clean`: the clip without its background noise (synthesized sets know the
  noise they mixed in): clean speech in digital silence, and digital silence
  for `_silence_` clips;
- `gain`: -10 to +6 dB, then clipped to [-1, 1];
- `band`: telephone band-limiting, nothing above 4 kHz (an 8 kHz channel);
- `tilt`: a spectral tilt of -6 to +6 dB per decade around 1 kHz, loudness
  kept (microphones and rooms colour speech);
- `reverb`: a synthetic room, an exponentially decaying noise impulse
  response with a 0.15-0.7 s reverberation time, mixed 30-100% wet;
- `speed`: played 0.85-1.15 times as fast by resampling around the clip's
  centre, which moves the pitch and the formants (vocal-tract length) with
  it.
"""

import math

import tensorflow as tf

AUGMENTATIONS = ("clean", "gain", "band", "tilt", "reverb", "speed")
TELEPHONE_HZ = 4000.0
REVERB_SECONDS = 0.5  # length of the synthetic impulse responses


def check_augmentations(names):
    """`names` as a tuple, or a `ValueError` naming unknown ones."""
    names = tuple(names)
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"Unknown waveform augmentations. Expected some of {AUGMENTATIONS}. "
                         f"Received: {unknown}")  # fmt: skip
    return names


def augment_waveforms(waveforms, seed, names, sample_rate=16000, noise=None):
    """Applies the augmentations `names` (see the module docstring).

    Args:
        waveforms: float32 tensor `[batch, samples]`.
        seed: int tensor of shape `[2]`, the batch's seed.
        names: some of `AUGMENTATIONS`, applied in that order.
        sample_rate: int, Hz of the waveforms.
        noise: float32 tensor `[batch, samples]`, the background noise inside
            `waveforms`; needed by `clean`.

    Returns:
        float32 tensor `[batch, samples]`.
    """
    names = check_augmentations(names)
    if "clean" in names and noise is None:
        raise ValueError("The `clean` augmentation needs the noise inside the waveforms "
                         "(synthesized sets only). Received: noise=None")  # fmt: skip
    x = tf.convert_to_tensor(waveforms, tf.float32)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), len(AUGMENTATIONS))
    for i, name in enumerate(AUGMENTATIONS):
        if name not in names:
            continue
        coin_seed, strength_seed, noise_seed = tf.unstack(
            tf.random.experimental.stateless_split(seeds[i], 3)
        )
        batch = tf.shape(x)[0]
        chosen = tf.random.stateless_uniform([batch, 1], coin_seed) < 0.5
        u = tf.random.stateless_uniform([batch, 1], strength_seed)
        if name == "clean":
            changed = x - tf.convert_to_tensor(noise, tf.float32)
        else:
            changed = _APPLY[name](x, u, noise_seed, sample_rate)
        x = tf.where(chosen, changed, x)
    return x


def _frequencies(samples, sample_rate):
    return tf.linspace(0.0, sample_rate / 2, samples // 2 + 1)


def _rms(x):
    return tf.sqrt(tf.reduce_mean(tf.square(x), axis=-1, keepdims=True) + 1e-12)


def _gain(x, u, _, __):
    decibels = -10.0 + 16.0 * u
    return tf.clip_by_value(x * 10 ** (decibels / 20), -1.0, 1.0)


def _filter(x, response):
    samples = tf.shape(x)[-1]
    spectrum = tf.signal.rfft(x) * tf.cast(response, tf.complex64)
    return tf.signal.irfft(spectrum, [samples])


def _band(x, _, __, sample_rate):
    keep = _frequencies(tf.shape(x)[-1], sample_rate) <= TELEPHONE_HZ
    return _filter(x, tf.cast(keep, tf.float32)[None, :])


def _tilt(x, u, _, sample_rate):
    slope = (-6.0 + 12.0 * u) / 20.0  # dB per decade -> amplitude exponent
    frequencies = _frequencies(tf.shape(x)[-1], sample_rate)[None, :]
    response = tf.pow((frequencies + 50.0) / 1000.0, slope)
    y = _filter(x, response)
    return y * _rms(x) / _rms(y)


def _reverb(x, u, noise_seed, sample_rate):
    samples = tf.shape(x)[-1]
    length = int(REVERB_SECONDS * sample_rate)
    batch = tf.shape(x)[0]
    rt60 = 0.15 + 0.55 * u  # [batch, 1]
    t = tf.range(length, dtype=tf.float32)[None, :] / sample_rate
    impulse = tf.random.stateless_normal([batch, length], noise_seed)
    impulse *= tf.exp(-math.log(1000.0) * t / rt60)  # -60 dB at rt60
    impulse = tf.concat([tf.ones([batch, 1]), 0.3 * impulse[:, 1:]], axis=1)  # direct path
    # Linear (not circular) convolution: an FFT of at least samples + length.
    size = 2 ** tf.cast(tf.math.ceil(tf.math.log(tf.cast(samples + length, tf.float32))
                                     / math.log(2.0)), tf.int32)  # fmt: skip
    wet = tf.signal.irfft(tf.signal.rfft(x, [size]) * tf.signal.rfft(impulse, [size]), [size])
    wet = wet[:, :samples]
    wet = wet * _rms(x) / _rms(wet)
    mix = 0.3 + 0.7 * u
    return tf.clip_by_value((1 - mix) * x + mix * wet, -1.0, 1.0)


def _speed(x, u, _, __):
    samples = tf.shape(x)[-1]
    rate = 0.85 + 0.3 * u  # [batch, 1]
    centre = tf.cast(samples - 1, tf.float32) / 2
    positions = centre + (tf.range(samples, dtype=tf.float32)[None, :] - centre) * rate
    left = tf.floor(positions)
    weight = positions - left
    inside = (positions >= 0) & (positions <= tf.cast(samples - 1, tf.float32))
    left = tf.clip_by_value(tf.cast(left, tf.int32), 0, samples - 1)
    right = tf.minimum(left + 1, samples - 1)
    y = (1 - weight) * tf.gather(x, left, batch_dims=1) + weight * tf.gather(x, right, batch_dims=1)
    return tf.where(inside, y, 0.0)


_APPLY = {"gain": _gain, "band": _band, "tilt": _tilt, "reverb": _reverb, "speed": _speed}
