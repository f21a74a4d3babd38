"""WAV reading, resampling and fitting clips to a fixed length (NumPy)."""

import io
import struct

import numpy as np

PCM, IEEE_FLOAT, EXTENSIBLE = 1, 3, 0xFFFE
SUPPORTED = {(PCM, 8), (PCM, 16), (PCM, 24), (PCM, 32), (IEEE_FLOAT, 32), (IEEE_FLOAT, 64)}


def decode_wav(data, name="<bytes>"):
    """Decodes a RIFF/WAVE file: PCM 8/16/24/32-bit or IEEE float 32/64-bit,
    any number of channels (mixed down to mono).

    Args:
        data: the file's bytes.
        name: file name for error messages.

    Returns:
        `(samples, sample_rate)`: float32 array `[n]` in `[-1, 1]`, int.

    Raises:
        ValueError: not a WAV file this reader supports (the message names
            the file and the reason).
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{name}: not a RIFF/WAVE file")
    stream = io.BytesIO(data[12:])
    fmt = samples = None
    while True:
        header = stream.read(8)
        if len(header) < 8:
            break
        chunk_id, size = struct.unpack("<4sI", header)
        body = stream.read(size + (size & 1))[:size]
        if chunk_id == b"fmt ":
            if len(body) < 16:
                raise ValueError(f"{name}: truncated fmt chunk")
            fmt = struct.unpack("<HHIIHH", body[:16])
            if fmt[0] == EXTENSIBLE and len(body) >= 26:
                fmt = (struct.unpack("<H", body[24:26])[0],) + fmt[1:]
        elif chunk_id == b"data":
            samples = body
    if fmt is None or samples is None:
        raise ValueError(f"{name}: no {'fmt' if fmt is None else 'data'} chunk")
    encoding, channels, sample_rate, _, _, bits = fmt
    if channels < 1 or sample_rate < 1:
        raise ValueError(f"{name}: bad header (channels={channels}, sample_rate={sample_rate})")
    if (encoding, bits) not in SUPPORTED:
        raise ValueError(f"{name}: unsupported WAV encoding {encoding} with {bits} bits")
    width = bits // 8
    samples = samples[: len(samples) // (width * channels) * width * channels]
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


def read_wav(path):
    """`decode_wav` of the file at `path` (errors name the file)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as error:
        raise FileNotFoundError(f"{path}: {error.strerror or error}") from None
    return decode_wav(data, str(path))


def resample(samples, from_rate, to_rate):
    """Band-limited resampling of a mono clip (FFT method: the spectrum is
    cut or zero-padded to the new Nyquist frequency).

    Returns:
        float32 array of `round(len(samples) * to_rate / from_rate)` samples.
    """
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
