"""WAV reading, resampling and fitting clips to a fixed length (NumPy)."""

import io
import struct

import numpy as np

PCM, IEEE_FLOAT, EXTENSIBLE = 1, 3, 0xFFFE
SUPPORTED = {(PCM, 8), (PCM, 16), (PCM, 24), (PCM, 32), (IEEE_FLOAT, 32), (IEEE_FLOAT, 64)}


MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1_000, 384_000
MAX_SECONDS = 60
MAX_DATA_BYTES = 64 * 2**20


def decode_wav(data, name="<bytes>"):
    """Decodes a RIFF/WAVE file: PCM 8/16/24/32-bit or IEEE float 32/64-bit,
    any number of channels (mixed down to mono).

    Files are refused, before their samples are read, when the sample rate
    is outside `MIN_SAMPLE_RATE`..`MAX_SAMPLE_RATE` (1 kHz to 384 kHz), the
    samples span more than `MAX_SECONDS` (60 s) or take more than
    `MAX_DATA_BYTES` (64 MiB): memory stays bounded whatever a header says.

    Args:
        data: the file's bytes.
        name: file name for error messages.

    Returns:
        `(samples, sample_rate)`: float32 array `[n]` in `[-1, 1]`, int.

    Raises:
        ValueError: not a WAV file this reader supports (the message names
            the file and the reason).
    """
    return _decode(io.BytesIO(data), name)


def _decode(stream, name):
    head = stream.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise ValueError(f"{name}: not a RIFF/WAVE file")
    fmt = samples = None
    while True:
        header = stream.read(8)
        if len(header) < 8:
            break
        chunk_id, size = struct.unpack("<4sI", header)
        if chunk_id == b"data":
            samples = stream.read(min(size, MAX_DATA_BYTES + 1))
            if len(samples) > MAX_DATA_BYTES:
                raise ValueError(f"{name}: more than {MAX_DATA_BYTES // 2**20} MiB of samples; "
                                 f"clips of at most {MAX_SECONDS} s are read")  # fmt: skip
            stream.seek(size & 1, io.SEEK_CUR)
            continue
        body = stream.read(min(size, 1 << 16)) if chunk_id == b"fmt " else b""
        stream.seek(size + (size & 1) - len(body), io.SEEK_CUR)
        if chunk_id == b"fmt ":
            if len(body) < 16:
                raise ValueError(f"{name}: truncated fmt chunk")
            fmt = struct.unpack("<HHIIHH", body[:16])
            if fmt[0] == EXTENSIBLE and len(body) >= 26:
                fmt = (struct.unpack("<H", body[24:26])[0],) + fmt[1:]
    if fmt is None or samples is None:
        raise ValueError(f"{name}: no {'fmt' if fmt is None else 'data'} chunk")
    encoding, channels, sample_rate, _, _, bits = fmt
    if channels < 1:
        raise ValueError(f"{name}: bad header (channels={channels})")
    check_sample_rate(sample_rate, name)
    if (encoding, bits) not in SUPPORTED:
        raise ValueError(f"{name}: unsupported WAV encoding {encoding} with {bits} bits")
    width = bits // 8
    frames = len(samples) // (width * channels)
    if frames > MAX_SECONDS * sample_rate:
        raise ValueError(f"{name}: {frames / sample_rate:.1f} s of audio; clips of at most "
                         f"{MAX_SECONDS} s are read. Cut it into shorter clips")  # fmt: skip
    samples = samples[: frames * width * channels]
    if encoding == PCM and bits == 8:
        x = (np.frombuffer(samples, np.uint8).astype("float32") - 128) / 128
    elif encoding == PCM and bits in (16, 32):
        x = np.frombuffer(samples, f"<i{width}").astype("float32") / 2 ** (bits - 1)
    elif encoding == PCM and bits == 24:
        raw = np.frombuffer(samples, np.uint8).reshape(-1, 3).astype("int32")
        value = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
        x = (np.where(value >= 1 << 23, value - (1 << 24), value) / 2**23).astype("float32")
    else:
        x = np.frombuffer(samples, f"<f{width}").astype("float32")
    x = x.reshape(-1, channels).mean(axis=1)
    return np.clip(np.nan_to_num(x), -1.0, 1.0).astype("float32"), sample_rate


def check_sample_rate(rate, name="sample_rate"):
    """Raises `ValueError` unless `MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE`."""
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise ValueError(f"{name}: sample rate {rate} Hz is outside the {MIN_SAMPLE_RATE} Hz to "
                         f"{MAX_SAMPLE_RATE} Hz this reader accepts")  # fmt: skip


def read_wav(path):
    """`decode_wav` of the file at `path` (errors name the file); only the
    headers and at most `MAX_DATA_BYTES` of samples are read."""
    try:
        with open(path, "rb") as f:
            return _decode(f, str(path))
    except OSError as error:
        raise FileNotFoundError(f"{path}: {error.strerror or error}") from None


def resample(samples, from_rate, to_rate):
    """Band-limited resampling of a mono clip (FFT method: the spectrum is
    cut or zero-padded to the new Nyquist frequency).

    Both rates must lie in `MIN_SAMPLE_RATE`..`MAX_SAMPLE_RATE`, so the
    output is at most 384 times the input.

    Returns:
        float32 array of `round(len(samples) * to_rate / from_rate)` samples.
    """
    check_sample_rate(from_rate, "from_rate")
    check_sample_rate(to_rate, "to_rate")
    samples = np.asarray(samples, "float64")
    if from_rate == to_rate or not len(samples):
        return samples.astype("float32")
    n_in = len(samples)
    n_out = max(1, int(round(n_in * to_rate / from_rate)))
    spectrum = np.fft.rfft(samples)
    bins = n_out // 2 + 1
    if bins <= len(spectrum):
        spectrum = spectrum[:bins].copy()
    else:
        spectrum = np.pad(spectrum, (0, bins - len(spectrum)))
    if n_out % 2 == 0 and n_out < n_in:
        spectrum[-1] = spectrum[-1].real  # the new Nyquist bin of an even length
    return (np.fft.irfft(spectrum, n_out) * (n_out / n_in)).astype("float32")


def fit_length(samples, length):
    """Zero-pads at the end or trims to `length` samples (keeping the middle
    of an overlong clip, where a word usually is)."""
    samples = np.asarray(samples, "float32")
    if len(samples) >= length:
        start = (len(samples) - length) // 2
        return samples[start : start + length]
    return np.pad(samples, (0, length - len(samples)))


def encode_wav(samples, sample_rate):
    """16-bit PCM mono WAV bytes of float samples in `[-1, 1]`."""
    pcm = (np.clip(np.asarray(samples), -1, 1) * 32767).round().astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", PCM, 1, sample_rate, sample_rate * 2, 2, 16)
    header = struct.pack("<4sI4s4sI", b"RIFF", 36 + len(pcm), b"WAVE", b"fmt ", 16) + fmt
    header += struct.pack("<4sI", b"data", len(pcm))
    return header + pcm
