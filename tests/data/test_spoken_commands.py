import logging
import shutil

import numpy as np
import pytest

from sharedformer_tf.data import spoken_commands

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng); it synthesizes the set",
)


def test_splits_are_by_voice_variant_and_cover_every_label():
    ESPEAK = ("espeak-ng",)
    plans = {split: spoken_commands.clip_plan(split, engines=ESPEAK)
             for split in spoken_commands.SPLITS}  # fmt: skip
    variants = {s: {speaker.split("+")[1] for speaker, _, _ in p} for s, p in plans.items()}
    assert not variants["test"] & variants["train"]
    assert not variants["validation"] & variants["train"]
    assert len(variants["test"]) >= 5 and len(variants["train"]) >= 50
    for plan in plans.values():
        labels = {label for _, _, label in plan}
        assert labels == set(range(len(spoken_commands.LABELS)))
    words = [word for _, word, label in plans["train"] if label == 11]
    assert set(words) <= set(spoken_commands.UNKNOWN_WORDS)
    assert not set(words) & set(spoken_commands.COMMANDS)
    # As many one-syllable words as longer ones: length alone is no cue.
    short = sum(word in spoken_commands.SHORT_UNKNOWN_WORDS for word in words)
    assert short == len(words) // 2 and len(set(words)) == len(spoken_commands.UNKNOWN_WORDS)


def test_clips_are_deterministic_one_second_and_not_silent():
    binary = spoken_commands.espeak_binary()
    a, noise = spoken_commands.synthesize_clip("en-us+m3", "stop", 0, seed=0, binary=binary)
    b, _ = spoken_commands.synthesize_clip("en-us+m3", "stop", 0, seed=0, binary=binary)
    c, _ = spoken_commands.synthesize_clip("en-us+m3", "stop", 0, seed=1, binary=binary)
    assert a.dtype == noise.dtype == np.int16 and a.shape == noise.shape == (16000,)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # Clean speech: digital silence around the word; the noise is everywhere.
    assert a[0] == 0 or a[-1] == 0
    assert np.count_nonzero(a) > 1000 and np.count_nonzero(noise) > 15000
    speech = np.sqrt(np.mean(a[a != 0].astype(float) ** 2))
    assert speech > 1.7 * np.sqrt(np.mean(noise.astype(float) ** 2))  # SNR >= 5 dB
    quiet, silence = spoken_commands.synthesize_clip("en-us+m3", None, 0, seed=0, binary=binary)
    assert not quiet.any() and silence.any()
    # Speech has far more energy than the background noise of a silence clip.
    assert np.abs(a.astype(float)).max() > 3 * np.abs(silence.astype(float)).max()


def test_synthesize_caches(tmp_path, monkeypatch):
    plan = spoken_commands.clip_plan("validation", engines=("espeak-ng",))[:13]
    monkeypatch.setattr(spoken_commands, "clip_plan", lambda split, **kwargs: plan)
    waveforms, labels, speakers, noise = spoken_commands.synthesize("validation",
                                                                    cache_dir=tmp_path)  # fmt: skip
    assert waveforms.shape == noise.shape == (13, 16000) and waveforms.dtype == np.float32
    assert labels.tolist() == [label for _, _, label in plan]
    assert speakers == [speaker for speaker, _, _ in plan]
    # Without the noise: silence clips are digital silence, words are speech.
    clean = waveforms - noise
    assert not clean[labels == 10].any() and (np.abs(clean[labels != 10]).max(axis=1) > 0.1).all()
    assert len(list(tmp_path.glob("*.npz"))) == 1
    again = spoken_commands.synthesize("validation", cache_dir=tmp_path, workers=1)
    np.testing.assert_array_equal(again.waveforms, waveforms)
    np.testing.assert_array_equal(again.noise, noise)


def test_missing_espeak_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr(spoken_commands.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="apt-get install espeak-ng"):
        spoken_commands.espeak_binary()


def test_accents_are_the_installed_ones_and_espeak_errors_are_clear():
    accents = spoken_commands.available_accents()
    assert accents and set(accents) <= set(spoken_commands.ACCENTS)
    with pytest.raises(ValueError, match="espeak-ng could not say 'stop' as xx-nowhere"):
        spoken_commands.synthesize_clip("xx-nowhere+m3", "stop", 0, 0,
                                        spoken_commands.espeak_binary())  # fmt: skip


festival = pytest.mark.skipif(
    shutil.which("festival") is None,
    reason="festival is not installed (make system-packages); it is the second speech engine",
)
BOTH = ("espeak-ng", "festival")


@festival
def test_every_speaker_of_every_engine_is_on_one_side_of_the_split():
    plans = {
        split: spoken_commands.clip_plan(split, engines=BOTH) for split in spoken_commands.SPLITS
    }
    speakers = {split: {speaker for speaker, _, _ in plan} for split, plan in plans.items()}
    for a, b in (("train", "test"), ("train", "validation"), ("validation", "test")):
        assert not speakers[a] & speakers[b]
    festival_speakers = {s for each in speakers.values() for s in each if s.startswith("festival:")}
    # Every installed voice of VOICES at every speaking rate is a speaker,
    # and all speakers of a voice are in the voice's split.
    festival_speech = spoken_commands.festival_speech
    voices = [v for v in festival_speech.VOICES if v in festival_speech.festival_voices()]
    rates = festival_speech.STRETCHES
    assert festival_speakers == {f"festival:{v}@{r}" for v in voices for r in rates}
    for split, plan in plans.items():
        for speaker in festival_speakers & {s for s, _, _ in plan}:
            voice = speaker.removeprefix("festival:").partition("@")[0]
            assert festival_speech.VOICES[voice][1] == split
            clips = [c for c in plan if c[0] == speaker]
            assert len(clips) == 13 * spoken_commands.FESTIVAL_REPEATS


@festival
def test_festival_clips_are_one_second_and_louder_than_silence(tmp_path, caplog, monkeypatch):
    speaker = "festival:kal_diphone@1.0"
    plan = [(speaker, "left", 2), (speaker, "left", 2), (speaker, None, 10)]
    caplog.set_level(logging.INFO, logger="sharedformer_tf")
    monkeypatch.setattr(spoken_commands, "clip_plan", lambda split, **kwargs: plan)
    waveforms, labels, _, _ = spoken_commands.synthesize("train", cache_dir=tmp_path,
                                                         engines=BOTH)  # fmt: skip
    assert waveforms.shape == (3, 16000) and labels.tolist() == [2, 2, 10]
    assert "3 clips from festival" in caplog.text
    peak = np.abs(waveforms).max(axis=1)
    assert peak[0] > 3 * peak[2] and peak[1] > 3 * peak[2]
    # The same word said again is placed and mixed anew.
    assert not np.array_equal(waveforms[0], waveforms[1])


def test_a_missing_engine_is_skipped_with_its_packages_named(monkeypatch, caplog):
    real = shutil.which
    monkeypatch.setattr(spoken_commands.shutil, "which",
                        lambda name: None if name == "festival" else real(name))  # fmt: skip
    assert spoken_commands.available_engines(BOTH) == ["espeak-ng"]
    assert "festival is not installed" in caplog.text and "festvox-kallpc16k" in caplog.text
    monkeypatch.setattr(spoken_commands.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="apt-get install espeak-ng festival"):
        spoken_commands.available_engines(BOTH)
    with pytest.raises(ValueError, match="Received: \\['flite'\\]"):
        spoken_commands.available_engines(("flite",))
