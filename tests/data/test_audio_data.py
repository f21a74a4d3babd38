import numpy as np
import pytest
import tensorflow_datasets as tfds

from sharedformer_tf.data import audio_data
from sharedformer_tf.data.wav_files import encode_wav


def test_tfds_speech_commands_with_mock_data():
    with tfds.testing.mock_data(num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE):
        data = audio_data.read_audio("tfds:speech_commands", "test")
    assert data.waveforms.shape == (6, 16000) and data.waveforms.dtype == np.float32
    assert np.abs(data.waveforms).max() <= 1.0
    assert data.class_names[-2:] == ("_silence_", "_unknown_") and data.labels.max() < 12


def test_folder_resamples_pads_and_skips_unreadable_files(tmp_path, caplog):
    for label in ("no", "yes"):
        (tmp_path / label).mkdir()
        for i in range(30):
            rate = (8000, 16000, 44100)[i % 3]
            clip = 0.3 * np.sin(2 * np.pi * 300 * np.arange(rate // 2) / rate)
            (tmp_path / label / f"{i}.wav").write_bytes(encode_wav(clip, rate))
    (tmp_path / "yes" / "notes.txt").write_text("ignored: not a .wav")
    broken = [f"yes/broken{i}.wav" for i in range(40)]
    for name in broken:
        (tmp_path / name).write_bytes(b"RIFF....WAVEjunk")
    parts = ("train", "validation", "test")
    splits = {s: audio_data.read_audio(f"folder:{tmp_path}", s) for s in parts}
    assert sum(len(d.labels) for d in splits.values()) == 60  # every good file, once
    whole = audio_data.read_audio(f"folder:{tmp_path}", "all")
    assert sorted(whole.labels.tolist()) == sorted(
        sum((d.labels.tolist() for d in splits.values()), [])
    )
    for data in splits.values():
        assert data.class_names == ("no", "yes") and data.waveforms.shape[1:] == (16000,)
    train = splits["train"]
    # Half a second of tone, then zeros; the tone survived resampling.
    assert np.all(train.waveforms[:, 8100:] == 0)
    assert np.allclose(np.abs(train.waveforms[:, 100:7900]).max(axis=1), 0.3, atol=0.02)
    assert "Skipped" in caplog.text and "broken" in caplog.text


@pytest.mark.parametrize(
    "spec, error, message",
    [("sounds:x", ValueError, "Unknown audio data SPEC"),
     ("folder:/no/such/dir", FileNotFoundError, "is not a directory")],
)  # fmt: skip
def test_bad_specs(spec, error, message):
    with pytest.raises(error, match=message):
        audio_data.read_audio(spec, "train")


def test_a_hostile_header_cannot_make_the_resampler_allocate_much(tmp_path):
    """59 s at the lowest accepted rate, and at 48 kHz, made into one 16 kHz
    second: only the clip's span is resampled, so resampling adds well under
    2 MB to what reading the file takes (resampling the whole file would
    take over 7 MB at 1 kHz and over 40 MB at 48 kHz)."""
    import tracemalloc

    from sharedformer_tf.data.wav_files import MIN_SAMPLE_RATE, read_wav

    def peak_bytes(function, *args):
        tracemalloc.start()
        function(*args)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    for rate in (MIN_SAMPLE_RATE, 48000):
        path = tmp_path / f"{rate}.wav"
        path.write_bytes(encode_wav(0.1 * np.sin(np.arange(rate * 59) / 3), rate))
        reading = peak_bytes(read_wav, path)
        loading = peak_bytes(audio_data.load_clip, path, 16000, 16000)
        assert loading - reading < 2 * 2**20, (rate, reading, loading)
    hostile = tmp_path / "one_hertz.wav"
    hostile.write_bytes(encode_wav(np.zeros(16000), 1000)[:24] + (1).to_bytes(4, "little")
                        + encode_wav(np.zeros(16000), 1000)[28:])  # fmt: skip
    with pytest.raises(ValueError, match="sample rate 1 Hz is outside"):
        audio_data.load_clip(hostile, 16000, 16000)


def test_empty_and_silent_clips_are_named_in_warnings(tmp_path, caplog):
    (tmp_path / "empty.wav").write_bytes(encode_wav(np.zeros(0), 16000))
    (tmp_path / "quiet.wav").write_bytes(encode_wav(np.zeros(8000), 16000))
    for name in ("empty.wav", "quiet.wav"):
        assert not audio_data.load_clip(tmp_path / name, 16000, 16000).any()
    assert "empty.wav: the WAV file has no samples" in caplog.text
    assert "quiet.wav: the clip is silent" in caplog.text
