"""A spoken-command data set synthesized offline by speech engines.

Ten command words plus `_silence_` (background noise only) and `_unknown_`
(other words), with the label names and order of TensorFlow Datasets'
`speech_commands`, so models and tools carry over.

Engines (`ENGINES`): espeak-ng, where every speaker is one English accent
(`en-us`, `en-gb-scotland`, ...) combined with one voice variant (`m3`,
`f2`, `klatt4`, ...) and the split is by variant, so the test set has voices
no training clip used; and Festival (`festival_speech`), where a speaker is
one voice at one speaking rate (`festival:kal_diphone@1.2`), split by voice
(`festival_speech.VOICES`). Each clip has its own loudness, position in the second and
background noise (white, pink or brown at 5-30 dB SNR), and espeak-ng clips
their own speed and pitch, all drawn from a generator seeded by the clip's
identity: the set is the same for a seed whatever the thread order. The
speech and the background noise of every clip are cached on disk (int16)
after the first run and returned apart as well as mixed, so training can
drop the noise on the fly (`waveform_augmentation`'s `clean`).
"""

import concurrent.futures
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import typing
import zlib

import numpy as np

from sharedformer_tf.data import festival_speech
from sharedformer_tf.data.wav_files import decode_wav, fit_length, resample

COMMANDS = ("down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes")
LABELS = COMMANDS + ("_silence_", "_unknown_")
# Words chosen to sound unlike every command, of one syllable (as every
# command is) and of more: each speaker says as many of each kind, so the
# length of a word does not tell a command from another word.
SHORT_UNKNOWN_WORDS = ("bath", "beach", "bed", "bird", "book", "cake", "cat", "chair", "cheese",
                       "fish", "girl", "glass", "jam", "king", "milk", "moon", "sand", "sheep",
                       "tree", "wheel")  # fmt: skip
LONG_UNKNOWN_WORDS = ("apple", "basket", "candle", "dinner", "eleven", "forest", "guitar",
                      "happy", "jacket", "kitchen", "lemon", "marble", "nature", "pencil",
                      "rabbit", "seven", "tiger", "velvet", "window", "zebra")  # fmt: skip
UNKNOWN_WORDS = SHORT_UNKNOWN_WORDS + LONG_UNKNOWN_WORDS
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd", "en-us-nyc")  # fmt: skip
SPLITS = ("train", "validation", "test")
ENGINES = ("espeak-ng", "festival")
# Both engines: on Festival's test voices a model trained on both scores 75.6%
# against 54.5% for espeak-ng alone, and the same on espeak-ng's test voices
# (97.0% against 97.2%; benchmarks/RESULTS.md, leave-one-engine-out).
DEFAULT_ENGINES = ENGINES
PACKAGES = {"espeak-ng": "espeak-ng", "festival": festival_speech.PACKAGES}
# Festival has a handful of voices against espeak-ng's hundreds of accent x
# variant speakers: each of its speakers says every word this many times
# (each time placed, scaled and mixed with noise anew).
FESTIVAL_REPEATS = 4
SAMPLE_RATE = 16000
CACHE_VERSION = 2
# Share of voice variants per split (by a stable hash of the variant name).
SPLIT_PERCENT = {"test": 15, "validation": 10}


def espeak_binary():
    """Path of `espeak-ng`, or a `FileNotFoundError` saying how to get it."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise FileNotFoundError(
            "espeak-ng is not installed, so the spoken commands cannot be synthesized. "
            "Install it with `sudo apt-get install espeak-ng` (Debian/Ubuntu), or pass "
            "--data tfds:speech_commands (a prepared TensorFlow Datasets data_dir) or "
            "--data folder:DIR (one sub-folder of WAV files per label)."
        )
    return path


def voice_variants():
    """Sorted names of espeak-ng's voice variants (`m1`, `f3`, `klatt`, ...)."""
    listing = subprocess.run([espeak_binary(), "--voices=variant"], capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
    # Lines end in "!v/NAME" and optionally "(LANGUAGE PRIORITY)"; names
    # with a space cannot be passed as "accent+NAME" and are skipped.
    names = (re.search(r"!v/(\S+)\s*(\([^)]*\))?\s*$", line) for line in listing.splitlines())
    return sorted({match.group(1) for match in names if match})


def available_accents():
    """The `ACCENTS` this espeak-ng installation has (older releases lack
    some), in `ACCENTS` order."""
    listing = subprocess.run([espeak_binary(), "--voices=en"], capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
    installed = {line.split()[1] for line in listing.splitlines()[1:] if len(line.split()) > 1}
    accents = [accent for accent in ACCENTS if accent in installed]
    if not accents:
        raise ValueError(f"espeak-ng has none of the English voices {ACCENTS}")
    return accents


def split_of(variant):
    """`"train"`, `"validation"` or `"test"` for a voice variant."""
    bucket = zlib.crc32(variant.encode()) % 100
    if bucket < SPLIT_PERCENT["test"]:
        return "test"
    if bucket < SPLIT_PERCENT["test"] + SPLIT_PERCENT["validation"]:
        return "validation"
    return "train"


logger = logging.getLogger("sharedformer_tf")


def available_engines(engines=DEFAULT_ENGINES):
    """The `engines` installed here, in order; a missing one is skipped with
    a warning naming its packages.

    Raises:
        ValueError: an unknown engine name.
        FileNotFoundError: none of `engines` is installed.
    """
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or not engines:
        raise ValueError(f"Expected speech engines from {ENGINES}. Received: {list(engines)}")
    found = []
    for engine in dict.fromkeys(engines):
        if shutil.which(engine):
            found.append(engine)
        else:
            logger.warning("Speech engine %s is not installed and is skipped "
                           "(sudo apt-get install %s).", engine, PACKAGES[engine])  # fmt: skip
    if not found:
        packages = " ".join(PACKAGES[e] for e in engines)
        raise FileNotFoundError(
            f"None of the speech engines {list(engines)} is installed, so the spoken commands "
            f"cannot be synthesized. Install them with `sudo apt-get install {packages}` "
            "(Debian/Ubuntu), or pass --data tfds:speech_commands (a prepared TensorFlow "
            "Datasets data_dir) or --data folder:DIR (one sub-folder of WAV files per label)."
        )
    return found


def engine_of(speaker):
    """`"festival"` or `"espeak-ng"`: the engine that voices `speaker`."""
    return "festival" if speaker.startswith("festival:") else "espeak-ng"


def _speaker_clips(speaker, unknown_per_speaker, silence_per_speaker):
    rng = np.random.default_rng(zlib.crc32(speaker.encode()))
    plan = [(speaker, word, LABELS.index(word)) for word in COMMANDS]
    short = unknown_per_speaker // 2
    words = [
        *rng.choice(SHORT_UNKNOWN_WORDS, short, replace=False),
        *rng.choice(LONG_UNKNOWN_WORDS, unknown_per_speaker - short, replace=False),
    ]
    for word in words:
        plan.append((speaker, str(word), LABELS.index("_unknown_")))
    return plan + [(speaker, None, LABELS.index("_silence_"))] * silence_per_speaker


def clip_plan(split, unknown_per_speaker=2, silence_per_speaker=1, engines=DEFAULT_ENGINES):
    """The clips of `split`: a list of `(speaker, word or None, label)`,
    where a speaker is `"accent+variant"` (espeak-ng) or
    `"festival:voice@stretch"` and word None means silence. Every speaker's
    clips are on one side of the split. Engines that are not installed are
    skipped with a warning (`available_engines`)."""
    if split not in SPLITS:
        raise ValueError(f"Expected a split in {SPLITS}. Received: split={split!r}")
    plan = []
    engines = available_engines(engines)
    if "espeak-ng" in engines:
        accents = available_accents()
        for variant in voice_variants():
            if split_of(variant) != split:
                continue
            for accent in accents:
                plan += _speaker_clips(f"{accent}+{variant}", unknown_per_speaker,
                                       silence_per_speaker)  # fmt: skip
    if "festival" in engines:
        for voice in festival_speech.voices_of_split(split):
            for stretch in festival_speech.STRETCHES:
                speaker = f"festival:{voice}@{stretch}"
                clips = _speaker_clips(speaker, unknown_per_speaker, silence_per_speaker)
                plan += clips * FESTIVAL_REPEATS
    return plan


def _noise(rng, length):
    """White, pink or brown noise with unit RMS."""
    kind = rng.integers(3)
    white = rng.standard_normal(length)
    if kind == 0:
        noise = white
    else:
        spectrum = np.fft.rfft(white)
        frequencies = np.maximum(np.arange(len(spectrum)), 1)
        spectrum /= frequencies ** (0.5 if kind == 1 else 1.0)
        noise = np.fft.irfft(spectrum, length)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def synthesize_clip(speaker, word, index, seed, binary=None, spoken=None):
    """One second at 16 kHz (see the module docstring): the speech (digital
    silence around the word; all zeros for a silence clip) and the
    background noise mixed into it, each int16 `[16000]`.

    Args:
        speaker: an espeak-ng `"accent+variant"` or `"festival:voice@stretch"`.
        word: the word, or `None` for background noise only.
        index: the clip's position in its plan (seeds its randomness).
        seed: int, seed of the set.
        binary: path of espeak-ng (espeak-ng speakers).
        spoken: `(samples, rate)` Festival said `word` with (Festival
            speakers; see `festival_speech.say_words`).
    """
    rng = np.random.default_rng([seed, zlib.crc32(f"{speaker}/{word}/{index}".encode())])
    speech = np.zeros(0, "float32")
    if word is not None:
        if engine_of(speaker) == "festival":
            samples, rate = spoken
        else:
            samples, rate = _espeak_say(binary, speaker, word, rng)
        loud = np.flatnonzero(np.abs(samples) > 0.02)  # trim leading/trailing silence
        if len(loud):
            samples = samples[loud[0] : loud[-1] + 1]
        speech = fit_length(resample(samples, rate, SAMPLE_RATE), min(len(samples), SAMPLE_RATE))
        speech = speech / (np.max(np.abs(speech)) + 1e-6) * rng.uniform(0.2, 0.9)
    clip = np.zeros(SAMPLE_RATE, "float64")
    start = rng.integers(0, SAMPLE_RATE - len(speech) + 1)
    clip[start : start + len(speech)] = speech
    if word is None:
        noise = _noise(rng, SAMPLE_RATE) * 10 ** rng.uniform(-3.5, -1)  # quiet to loud rooms
    else:
        rms = np.sqrt(np.mean(speech.astype("float64") ** 2)) * np.sqrt(len(speech) / SAMPLE_RATE)
        noise = _noise(rng, SAMPLE_RATE) * rms / 10 ** (rng.uniform(5, 30) / 20)
    return tuple((np.clip(x, -1, 1) * 32767).round().astype("int16") for x in (clip, noise))


def _espeak_say(binary, speaker, word, rng):
    command = [binary, "-v", speaker, "-s", str(rng.integers(110, 200)),
               "-p", str(rng.integers(20, 80)), "--stdout", word]  # fmt: skip
    result = subprocess.run(command, capture_output=True)
    if result.returncode or not result.stdout:
        reason = result.stderr.decode(errors="replace").strip() or f"status {result.returncode}"
        raise ValueError(f"espeak-ng could not say {word!r} as {speaker}: {reason}")
    return decode_wav(result.stdout, f"espeak-ng {speaker} {word!r}")


def _festival_say_all(plan):
    """`{(speaker, word): (samples, rate)}` for the Festival clips of `plan`,
    one Festival process per speaker."""
    words = {}
    for speaker, word, _ in plan:
        if word is not None and engine_of(speaker) == "festival":
            words.setdefault(speaker, set()).add(word)
    spoken = {}
    for speaker, said in words.items():
        voice, _, stretch = speaker.removeprefix("festival:").partition("@")
        for word, audio in festival_speech.say_words(voice, said, float(stretch)).items():
            spoken[speaker, word] = audio
    return spoken


def festival_version():
    result = subprocess.run([festival_speech.festival_binary(), "--version"],
                            capture_output=True, text=True)  # fmt: skip
    return result.stdout.strip()


def espeak_version():
    return subprocess.run([espeak_binary(), "--version"], capture_output=True,
                          text=True).stdout.strip()  # fmt: skip


class SpokenClips(typing.NamedTuple):
    """Synthesized clips: `waveforms` (speech + noise, float32 `[n, 16000]`
    in `[-1, 1]`), `labels` (int32 `[n]`, index into `LABELS`), `speakers`
    (`n` names) and `noise` (float32 `[n, 16000]`, the background noise
    inside each waveform: `waveforms - noise` is the clean speech wherever
    the mix was not clipped)."""

    waveforms: np.ndarray
    labels: np.ndarray
    speakers: list
    noise: np.ndarray


def synthesize(split, seed=0, cache_dir=None, workers=None, engines=DEFAULT_ENGINES):
    """The clips of `split`, synthesized (or read from the cache).

    Args:
        split: `"train"`, `"validation"` or `"test"`.
        seed: int.
        cache_dir: directory of the cache; default
            `~/.cache/sharedformer_tf/spoken_commands`.
        workers: parallel espeak-ng processes (default: CPU count).
        engines: speech engines from `ENGINES`; missing ones are skipped
            with a warning.

    Returns:
        `SpokenClips`.
    """
    plan = clip_plan(split, engines=engines)
    used = sorted({engine_of(speaker) for speaker, _, _ in plan})
    logger.info("Spoken commands (%s): %d clips from %s", split, len(plan), ", ".join(used))
    binary = espeak_binary() if "espeak-ng" in used else None
    cache_dir = cache_dir or os.path.join(
        os.path.expanduser("~"), ".cache", "sharedformer_tf", "spoken_commands"
    )
    versions = [espeak_version() if binary else None]
    if "festival" in used:  # an espeak-only key stays as it was: caches stay valid
        versions.append(festival_version())
    key = json.dumps([CACHE_VERSION, seed, split, plan, *versions])
    path = os.path.join(cache_dir, f"{split}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz")
    if os.path.isfile(path):
        with np.load(path) as cached:
            speech, noise, labels = cached["speech"], cached["noise"], cached["labels"]
    else:
        spoken = _festival_say_all(plan)
        with concurrent.futures.ThreadPoolExecutor(workers or os.cpu_count()) as pool:
            jobs = [pool.submit(synthesize_clip, speaker, word, i, seed, binary,
                                spoken.get((speaker, word)))
                    for i, (speaker, word, _) in enumerate(plan)]  # fmt: skip
            speech, noise = (
                np.stack(part) for part in zip(*[job.result() for job in jobs], strict=True)
            )
        labels = np.array([label for _, _, label in plan], "int32")
        os.makedirs(cache_dir, exist_ok=True)
        partial = f"{path}.{os.getpid()}.partial.npz"
        np.savez(partial, speech=speech, noise=noise, labels=labels)
        os.replace(partial, path)  # a killed run never leaves a torn cache file
    mixed = np.clip(speech.astype("int32") + noise, -32768, 32767)
    return SpokenClips(mixed.astype("float32") / 32768, labels,
                       [speaker for speaker, _, _ in plan],
                       noise.astype("float32") / 32768)  # fmt: skip
