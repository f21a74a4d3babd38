import struct

import numpy as np
import pytest

from sharedformer_tf.data.wav_files import decode_wav, encode_wav, fit_length, read_wav, resample


def wav_bytes(samples, rate, encoding, bits, channels=1):
    data = samples.tobytes()
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(data), b"WAVE", b"fmt ", 16,
                       encoding, channels, rate, rate * channels * bits // 8,
                       channels * bits // 8, bits, b"data", len(data)) + data  # fmt: skip


def test_pcm16_round_trip():
    x = np.sin(np.linspace(0, 20, 1000)).astype("float32") * 0.5
    samples, rate = decode_wav(encode_wav(x, 8000))
    assert rate == 8000 and samples.dtype == np.float32
    np.testing.assert_allclose(samples, x, atol=1 / 32767)


@pytest.mark.parametrize(
    "dtype, encoding, bits, scale",
    [("uint8", 1, 8, None), ("<i4", 1, 32, 2**31), ("<f4", 3, 32, 1.0), ("<f8", 3, 64, 1.0)],
)
def test_other_encodings(dtype, encoding, bits, scale):
    x = np.array([0.0, 0.5, -0.5, 0.25], "float64")
    if dtype == "uint8":
        raw = (x * 128 + 128).astype("uint8")
    elif dtype == "<i4":
        raw = (x * scale).astype(dtype)
    else:
        raw = x.astype(dtype)
    samples, rate = decode_wav(wav_bytes(raw, 22050, encoding, bits))
    assert rate == 22050
    np.testing.assert_allclose(samples, x, atol=1e-6)


def test_24_bit_and_stereo_mixdown():
    left, right = np.array([0.5, -0.25]), np.array([0.0, -0.75])
    ints = np.round(np.stack([left, right], 1).reshape(-1) * 2**23).astype("<i4")
    raw = np.frombuffer(ints.tobytes(), np.uint8).reshape(-1, 4)[:, :3].copy()
    samples, _ = decode_wav(wav_bytes(raw, 16000, 1, 24, channels=2))
    np.testing.assert_allclose(samples, (left + right) / 2, atol=1e-6)


def test_resample_keeps_a_tone():
    t_in = np.arange(22050) / 22050
    tone = np.sin(2 * np.pi * 440 * t_in)
    out = resample(tone, 22050, 16000)
    assert len(out) == 16000
    want = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    np.testing.assert_allclose(out[100:-100], want[100:-100], atol=0.02)
    up = resample(out, 16000, 44100)
    assert len(up) == 44100
    assert resample(tone, 22050, 22050) is not tone and len(resample(tone, 22050, 22050)) == 22050


def test_fit_length_pads_and_keeps_the_middle():
    assert fit_length(np.ones(3), 5).tolist() == [1, 1, 1, 0, 0]
    assert fit_length(np.arange(10), 4).tolist() == [3, 4, 5, 6]


def test_bad_files_are_named(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"ID3 an mp3 really")
    with pytest.raises(ValueError, match=r"a\.wav: not a RIFF/WAVE file"):
        read_wav(tmp_path / "a.wav")
    with pytest.raises(FileNotFoundError, match=r"gone\.wav"):
        read_wav(tmp_path / "gone.wav")
    adpcm = wav_bytes(np.zeros(4, "uint8"), 8000, 2, 4)
    with pytest.raises(ValueError, match="unsupported WAV encoding 2"):
        decode_wav(adpcm, "x.wav")
    with pytest.raises(ValueError, match="no data chunk"):
        decode_wav(adpcm[:36], "y.wav")


@pytest.mark.parametrize("rate", [1, 999, 384_001])
def test_sample_rates_outside_the_range_are_refused(rate):
    with pytest.raises(ValueError, match=f"h.wav: sample rate {rate} Hz is outside"):
        decode_wav(wav_bytes(np.zeros(16, "<i2"), rate, 1, 16), "h.wav")
    with pytest.raises(ValueError, match="from_rate: sample rate"):
        resample(np.zeros(16), rate, 16000)


def test_clips_over_the_maximum_length_are_refused(monkeypatch):
    from sharedformer_tf.data import wav_files

    too_long = np.zeros(1000 * (wav_files.MAX_SECONDS + 1), "uint8")
    with pytest.raises(ValueError, match=r"long\.wav: 61\.0 s of audio; clips of at most 60 s"):
        decode_wav(wav_bytes(too_long, 1000, 1, 8), "long.wav")
    monkeypatch.setattr(wav_files, "MAX_DATA_BYTES", 1000)
    with pytest.raises(ValueError, match=r"big\.wav: more than"):
        decode_wav(wav_bytes(np.zeros(1001, "uint8"), 16000, 1, 8), "big.wav")


def test_a_header_that_overstates_the_data_reads_what_is_there():
    data = wav_bytes(np.full(8, 1000, "<i2"), 16000, 1, 16)
    lying = data[:40] + struct.pack("<I", 0xFFFFFFF0) + data[44:]  # data chunk size
    samples, rate = decode_wav(lying, "stream.wav")
    assert rate == 16000 and len(samples) == 8
