"""Labelled one-second audio clips for the keyword-spotting app, offline first.

SPEC is one of:

- `spoken_commands[:ENGINE,...]`: synthesized by the speech engines
  `espeak-ng` and `festival` (both by default; see `spoken_commands`),
  cached on disk after the first run; a missing engine is skipped with a
  warning;
- `tfds:NAME` (e.g. `speech_commands`): a TensorFlow Datasets set already
  prepared in the user's data_dir (nothing is downloaded);
- `folder:DIR`: one sub-folder of WAV files per label; a stable hash of
  each file's path puts 10% of them in `test` and 10% in `validation`.

Split `"all"` is the whole set. WAV files are refused (named, and skipped
inside `folder:` data) outside 1 kHz to 384 kHz or beyond 60 s
(`wav_files.MAX_SECONDS`); empty and silent clips are named in warnings.

Clips of other sample rates are resampled, then padded or trimmed to the
clip length.
"""

import dataclasses
import logging
import os

import numpy as np

from sharedformer_tf.data import spoken_commands
from sharedformer_tf.data.class_folders import folder_classes, path_bucket
from sharedformer_tf.data.tfds_reader import load_prepared
from sharedformer_tf.data.wav_files import fit_length, read_wav, resample

SPLITS = ("train", "validation", "test", "all")
SILENCE_PEAK = 1e-4  # -80 dBFS
FOLDER_PERCENT = {"test": 10, "validation": 10}
logger = logging.getLogger("sharedformer_tf")


@dataclasses.dataclass(frozen=True)
class AudioData:
    """Waveforms float32 `[n, clip_samples]` in `[-1, 1]`, labels int32
    `[n]`, the class names (label `i` is `class_names[i]`) and, for
    synthesized sets, the background `noise` mixed into each waveform (float32
    `[n, clip_samples]`; None where it is unknown)."""

    waveforms: np.ndarray
    labels: np.ndarray
    class_names: tuple
    noise: np.ndarray | None = None

    def take(self, indices):
        """The clips at `indices` (an index array or a slice)."""
        noise = None if self.noise is None else self.noise[indices]
        return AudioData(self.waveforms[indices], self.labels[indices], self.class_names, noise)


def read_audio(spec, split="train", sample_rate=16000, clip_samples=16000, data_dir=None,
               seed=0, cache_dir=None):  # fmt: skip
    """Reads split `split` of the audio set `spec` (see the module docstring).

    Args:
        spec: `spoken_commands`, `tfds:NAME` or `folder:DIR`.
        split: `"train"`, `"validation"`, `"test"` or `"all"`.
        sample_rate: int, Hz the clips are resampled to.
        clip_samples: int, samples per clip after padding/trimming.
        data_dir: TensorFlow Datasets data_dir for `tfds:` specs.
        seed: int, seed of the synthesized set.
        cache_dir: cache directory of the synthesized set.

    Returns:
        `AudioData`.
    """
    if split not in SPLITS:
        raise ValueError(f"Expected a split in {SPLITS}. Received: split={split!r}")
    kind, _, argument = spec.partition(":")
    if split == "all" and kind != "folder":
        parts = [read_audio(spec, part, sample_rate, clip_samples, data_dir, seed, cache_dir)
                 for part in SPLITS[:3]]  # fmt: skip
        waves, labels = (
            np.concatenate([getattr(p, k) for p in parts]) for k in ("waveforms", "labels")
        )
        noise = None if parts[0].noise is None else np.concatenate([p.noise for p in parts])
        return AudioData(waves, labels, parts[0].class_names, noise)
    if kind == "spoken_commands":
        engines = tuple(argument.split(",")) if argument else spoken_commands.DEFAULT_ENGINES
        clips = spoken_commands.synthesize(split, seed, cache_dir, engines=engines)

        def fit(waveforms):
            if sample_rate != spoken_commands.SAMPLE_RATE:
                waveforms = [resample(w, spoken_commands.SAMPLE_RATE, sample_rate)
                             for w in waveforms]  # fmt: skip
            return np.stack([fit_length(w, clip_samples) for w in waveforms])

        return AudioData(fit(clips.waveforms), clips.labels, spoken_commands.LABELS,
                         fit(clips.noise))  # fmt: skip
    if kind == "tfds" and argument:
        return _read_tfds(argument, split, sample_rate, clip_samples, data_dir)
    if kind == "folder" and argument:
        return _read_folder(argument, split, sample_rate, clip_samples)
    raise ValueError(
        "Unknown audio data SPEC. Expected spoken_commands[:ENGINE,...], tfds:NAME or "
        "folder:DIR. "
        f"Received: {spec!r}"
    )


def _read_tfds(name, split, sample_rate, clip_samples, data_dir):
    dataset, info = load_prepared(name, split, data_dir)
    source_rate = getattr(info.features["audio"], "sample_rate", None) or sample_rate
    waveforms, labels = [], []
    for example in dataset.as_numpy_iterator():
        audio = np.asarray(example["audio"])
        audio = audio.astype("float32") / (32768 if audio.dtype == np.int16 else 1)
        waveforms.append(fit_length(resample(audio, source_rate, sample_rate), clip_samples))
        labels.append(example["label"])
    names = tuple(info.features["label"].names)
    return AudioData(np.stack(waveforms), np.asarray(labels, "int32"), names)


def folder_split(relative_path):
    """`"train"`, `"validation"` or `"test"` for a file of a `folder:` set."""
    bucket = path_bucket(relative_path)
    if bucket < FOLDER_PERCENT["test"]:
        return "test"
    return "validation" if bucket < sum(FOLDER_PERCENT.values()) else "train"


def load_clip(path, sample_rate, clip_samples):
    """One WAV file, resampled and padded/trimmed: float32 `[clip_samples]`.

    Only the middle of a long file (what `fit_length` keeps) is resampled,
    so memory is bounded by the clip length. An empty or silent file is
    named in a warning (it is still returned, as silence).
    """
    samples, rate = read_wav(path)
    span = -(-clip_samples * rate // sample_rate) + 2 * (rate // 100)  # the clip + 10 ms a side
    if len(samples) > span:
        start = (len(samples) - span) // 2
        samples = samples[start : start + span]
    if not len(samples):
        logger.warning("%s: the WAV file has no samples; it is read as silence", path)
    elif np.abs(samples).max() < SILENCE_PEAK:
        logger.warning("%s: the clip is silent (peak below -80 dBFS)", path)
    return fit_length(resample(samples, rate, sample_rate), clip_samples)


def _read_folder(directory, split, sample_rate, clip_samples):
    names = folder_classes(directory)
    waveforms, labels, skipped = [], [], []
    for label, name in enumerate(names):
        for file in sorted(os.listdir(os.path.join(directory, name))):
            relative = f"{name}/{file}"
            if not file.lower().endswith(".wav"):
                continue
            if split != "all" and folder_split(relative) != split:
                continue
            try:
                waveforms.append(load_clip(os.path.join(directory, relative), sample_rate,
                                           clip_samples))  # fmt: skip
                labels.append(label)
            except (ValueError, FileNotFoundError) as error:
                logger.warning("Skipped %s", error)
                skipped.append(relative)
    if skipped:
        logger.warning("Skipped %d unreadable WAV files in folder:%s", len(skipped), directory)
    if not waveforms:
        raise ValueError(f"folder:{directory} has no readable WAV files in its {split!r} split")
    waveforms = np.stack(waveforms)
    silent = int(np.sum(np.abs(waveforms).max(axis=1) < SILENCE_PEAK))
    if silent:
        logger.warning("%d of %d clips in folder:%s (%s) are empty or silent", silent,
                       len(waveforms), directory, split)  # fmt: skip
    return AudioData(waveforms, np.asarray(labels, "int32"), tuple(names))
