import numpy as np
import pytest
import tensorflow as tf

from sharedformer_tf.data import waveform_augmentation as wa
from sharedformer_tf.data.array_dataset import make_array_dataset

RATE = 16000
SEED = tf.constant([4, 2], tf.int64)


def tones(frequencies, batch=64, amplitude=0.3, burst=None):
    """`batch` copies of a sum of sines; with `burst=(start, end)` in
    seconds, silent outside it."""
    t = np.arange(RATE) / RATE
    x = sum(amplitude * np.sin(2 * np.pi * f * t) for f in frequencies)
    if burst:
        x = x * ((t >= burst[0]) & (t < burst[1]))
    return np.tile(x.astype("float32"), (batch, 1))


def run(x, name, seed=SEED):
    y = wa.augment_waveforms(x, seed, [name]).numpy()
    changed = ~np.isclose(y, x, atol=1e-6).all(axis=1)
    # Each augmentation reaches about half of a batch's clips.
    assert 16 < changed.sum() < 48, changed.sum()
    return y, changed


def band_energy(x, low, high):
    spectrum = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    frequencies = np.fft.rfftfreq(x.shape[-1], 1 / RATE)
    return spectrum[:, (frequencies >= low) & (frequencies < high)].sum(axis=-1)


def dominant_hz(x):
    return np.fft.rfftfreq(x.shape[-1], 1 / RATE)[np.abs(np.fft.rfft(x, axis=-1)).argmax(-1)]


def test_gain_scales_within_its_range():
    x = tones([440])
    y, changed = run(x, "gain")
    ratio = np.abs(y[changed]).max(axis=1) / np.abs(x[changed]).max(axis=1)
    assert np.all(ratio >= 10 ** (-10 / 20) - 1e-4) and np.all(ratio <= 10 ** (6 / 20) + 1e-4)
    assert len(np.unique(ratio.round(3))) > 5  # a strength per clip
    assert np.abs(y).max() <= 1


def test_band_limiting_removes_everything_above_4_khz():
    x = tones([1000, 6000])
    y, changed = run(x, "band")
    high_before = band_energy(x[changed], 4100, 8001)
    assert np.all(band_energy(y[changed], 4100, 8001) < 1e-6 * high_before)
    low = band_energy(y[changed], 900, 1100) / band_energy(x[changed], 900, 1100)
    np.testing.assert_allclose(low, 1, atol=1e-3)  # the telephone band passes


def test_tilt_moves_energy_between_low_and_high_and_keeps_loudness():
    x = tones([200, 5000])
    y, changed = run(x, "tilt")
    balance = band_energy(y[changed], 4900, 5100) / band_energy(y[changed], 190, 210)
    assert balance.min() < 0.9 and balance.max() > 1.1  # both ways, per clip
    rms = np.sqrt((y[changed] ** 2).mean(1)) / np.sqrt((x[changed] ** 2).mean(1))
    np.testing.assert_allclose(rms, 1, rtol=1e-3)


def test_reverb_leaves_a_decaying_tail_after_the_word():
    x = tones([700], burst=(0.2, 0.4))
    y, changed = run(x, "reverb")
    tail = slice(int(0.42 * RATE), int(0.6 * RATE))
    assert np.all(np.abs(x[changed][:, tail]) == 0)
    tail_energy = (y[changed][:, tail] ** 2).mean(1)
    assert np.all(tail_energy > 1e-5)
    late = slice(int(0.9 * RATE), RATE)  # the tail decays
    assert np.all((y[changed][:, late] ** 2).mean(1) < tail_energy)


def test_speed_scales_pitch_and_duration():
    x = tones([1000])
    y, changed = run(x, "speed")
    rate = dominant_hz(y[changed]) / 1000
    assert rate.min() >= 0.85 - 0.01 and rate.max() <= 1.15 + 0.01
    assert rate.max() - rate.min() > 0.1
    burst = tones([1000], burst=(0.3, 0.7))
    y = wa.augment_waveforms(burst, SEED, ["speed"]).numpy()

    def extent(clips):  # first to last sample of the burst
        return np.array([np.ptp(np.flatnonzero(np.abs(c) > 1e-3)) for c in clips])

    faster = dominant_hz(y) / 1000  # a faster clip is shorter by the same factor
    np.testing.assert_allclose(extent(y) / extent(burst), 1 / faster, rtol=0.01)


def test_clean_removes_exactly_the_noise_and_leaves_digital_silence():
    speech = tones([700], burst=(0.3, 0.6))
    noise = np.random.default_rng(0).normal(0, 0.01, speech.shape).astype("float32")
    y = wa.augment_waveforms(speech + noise, SEED, ["clean"], noise=noise).numpy()
    changed = ~np.isclose(y, speech + noise, atol=1e-6).all(axis=1)
    assert 16 < changed.sum() < 48
    np.testing.assert_allclose(y[changed], speech[changed], atol=1e-6)
    assert np.abs(y[changed][:, :4000]).max() < 1e-6  # silence before the word
    with pytest.raises(ValueError, match="Received: noise=None"):
        wa.augment_waveforms(speech, SEED, ["clean"])


def test_seeded_and_unknown_names_refused():
    x = tones([300, 3000], batch=8)
    noise = np.full_like(x, 0.01)
    names = list(wa.AUGMENTATIONS)
    a = wa.augment_waveforms(x, SEED, names, noise=noise).numpy()
    np.testing.assert_array_equal(a, wa.augment_waveforms(x, SEED, names, noise=noise).numpy())
    assert not np.array_equal(a, wa.augment_waveforms(x, SEED + 1, names, noise=noise).numpy())
    with pytest.raises(ValueError, match=r"Received: \['echo'\]"):
        wa.augment_waveforms(x, SEED, ["gain", "echo"])


def test_the_pipeline_draws_new_seeds_every_epoch_and_the_same_for_a_seed():
    x = tones([500], batch=32)
    labels = np.arange(32)

    def gain(batch, seed):
        return wa.augment_waveforms(batch, seed, ["gain"])

    def epochs(seed):
        dataset = make_array_dataset(x, labels, 8, shuffle=True, seed=seed, augment=gain)
        return [np.concatenate([b.numpy() for b, _ in dataset]) for _ in range(2)]

    first, second = epochs(0)
    assert not np.array_equal(first, second)
    again = epochs(0)
    np.testing.assert_array_equal(first, again[0])
    np.testing.assert_array_equal(second, again[1])


def test_the_pipeline_passes_the_noise_to_clean():
    x, noise = tones([500], batch=32), np.full((32, RATE), 0.25, "float32")

    def clean(batch, seed):
        waveforms, batch_noise = batch
        return wa.augment_waveforms(waveforms, seed, ["clean"], noise=batch_noise)

    dataset = make_array_dataset((x + noise, noise), np.zeros(32), 32, augment=clean)
    ((y, _),) = list(dataset)
    cleaned = np.isclose(y.numpy(), x, atol=1e-6).all(axis=1)
    assert 4 < cleaned.sum() < 28 and np.allclose(y.numpy()[~cleaned], (x + noise)[~cleaned])
    with pytest.raises(ValueError, match="Received: augment=None"):
        make_array_dataset((x, noise), np.zeros(32), 32)
