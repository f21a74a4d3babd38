import shutil

import numpy as np
import pytest

from sharedformer_tf.data import festival_speech

installed = pytest.mark.skipif(
    shutil.which("festival") is None,
    reason="festival is not installed (make system-packages); it is the second speech engine",
)


@installed
def test_every_voice_used_says_words_louder_than_silence():
    voices = [v for v in festival_speech.VOICES if v in festival_speech.festival_voices()]
    assert voices
    for voice in voices:
        spoken = festival_speech.say_words(voice, ["stop", "go"])
        assert set(spoken) == {"stop", "go"}
        for samples, rate in spoken.values():
            assert samples.dtype == np.float32 and samples.ndim == 1
            assert 8000 <= rate <= 48000 and 0.1 < len(samples) / rate < 2
            assert np.abs(samples).max() > 0.05


@installed
def test_slower_speech_is_longer():
    fast = festival_speech.say_words("kal_diphone", ["seven"], stretch=0.85)["seven"][0]
    slow = festival_speech.say_words("kal_diphone", ["seven"], stretch=1.2)["seven"][0]
    assert len(slow) > 1.2 * len(fast)


@installed
@pytest.mark.parametrize(
    "args, message",
    [
        (("nobody_diphone", ["stop"]), "no voice 'nobody_diphone'"),
        (("kal_diphone", ['stop") (system "x']), "lowercase letters"),
        (("kal_diphone", ["stop"], 3.0), "stretch=3.0"),
    ],
)
def test_bad_requests_are_named(args, message):
    with pytest.raises(ValueError, match=message):
        festival_speech.say_words(*args)


def test_missing_festival_names_the_packages(monkeypatch):
    monkeypatch.setattr(festival_speech.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="apt-get install festival .*festvox-kallpc16k"):
        festival_speech.festival_binary()


def test_voices_of_a_split_skip_missing_voices_naming_their_packages(monkeypatch, caplog):
    monkeypatch.setattr(festival_speech, "festival_voices", lambda: ("czech_dita", "ked_diphone"))
    assert festival_speech.voices_of_split("test") == ["ked_diphone", "czech_dita"]
    assert festival_speech.voices_of_split("train") == []
    assert "kal_diphone" in caplog.text and "festvox-kallpc16k" in caplog.text
    splits = {split for _, split in festival_speech.VOICES.values()}
    assert splits == {"train", "validation", "test"}
