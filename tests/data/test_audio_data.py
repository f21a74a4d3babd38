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
    splits = {s: audio_data.read_audio(f"folder:{tmp_path}", s) for s in audio_data.SPLITS}
    assert sum(len(d.labels) for d in splits.values()) == 60  # every good file, once
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
