"""Labelled one-second audio clips for the keyword-spotting app, offline first.

SPEC is one of:

- `spoken_commands`: synthesized with espeak-ng (see `spoken_commands`),
  cached on disk after the first run;
- `tfds:NAME` (e.g. `speech_commands`): a TensorFlow Datasets set already
  prepared in the user's data_dir (nothing is downloaded);
- `folder:DIR`: one sub-folder of WAV files per label; a stable hash of
  each file's path puts 10% of them in `test` and 10% in `validation`.

Clips of other sample rates are resampled, then padded or trimmed to the
clip length.
"""

import dataclasses
import logging
import os
import zlib

import numpy as np

from sharedformer_tf.data import spoken_commands
from sharedformer_tf.data.wav_files import fit_length, read_wav, resample

SPLITS = ("train", "validation", "test")
FOLDER_PERCENT = {"test": 10, "validation": 10}
logger = logging.getLogger("sharedformer_tf")


@dataclasses.dataclass(frozen=True)
class AudioData:
    """Waveforms float32 `[n, clip_samples]` in `[-1, 1]`, labels int32
    `[n]` and the class names (label `i` is `class_names[i]`)."""

    waveforms: np.ndarray
    labels: np.ndarray
    class_names: tuple


def read_audio(spec, split="train", sample_rate=16000, clip_samples=16000, data_dir=None,
               seed=0, cache_dir=None):  # fmt: skip
    """Reads split `split` of the audio set `spec` (see the module docstring).

    Args:
        spec: `spoken_commands`, `tfds:NAME` or `folder:DIR`.
        split: `"train"`, `"validation"` or `"test"`.
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
    if kind == "spoken_commands" and not argument:
        waveforms, labels, _ = spoken_commands.synthesize(split, seed, cache_dir)
        if sample_rate != spoken_commands.SAMPLE_RATE:
            waveforms = np.stack(
                [resample(w, spoken_commands.SAMPLE_RATE, sample_rate) for w in waveforms]
            )
        waveforms = np.stack([fit_length(w, clip_samples) for w in waveforms])
        return AudioData(waveforms, labels, spoken_commands.LABELS)
    if kind == "tfds" and argument:
        return _read_tfds(argument, split, sample_rate, clip_samples, data_dir)
    if kind == "folder" and argument:
        return _read_folder(argument, split, sample_rate, clip_samples)
    raise ValueError(
        "Unknown audio data SPEC. Expected spoken_commands, tfds:NAME or folder:DIR. "
        f"Received: {spec!r}"
    )


def _read_tfds(name, split, sample_rate, clip_samples, data_dir):
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir)
    source_rate = getattr(builder.info.features["audio"], "sample_rate", None) or sample_rate
    waveforms, labels = [], []
    for example in builder.as_dataset(split=split).as_numpy_iterator():
        audio = np.asarray(example["audio"])
        audio = audio.astype("float32") / (32768 if audio.dtype == np.int16 else 1)
        waveforms.append(fit_length(resample(audio, source_rate, sample_rate), clip_samples))
        labels.append(example["label"])
    names = tuple(builder.info.features["label"].names)
    return AudioData(np.stack(waveforms), np.asarray(labels, "int32"), names)


def folder_split(relative_path):
    """`"train"`, `"validation"` or `"test"` for a file of a `folder:` set."""
    bucket = zlib.crc32(relative_path.encode()) % 100
    if bucket < FOLDER_PERCENT["test"]:
        return "test"
    return "validation" if bucket < sum(FOLDER_PERCENT.values()) else "train"


def load_clip(path, sample_rate, clip_samples):
    """One WAV file, resampled and padded/trimmed: float32 `[clip_samples]`."""
    samples, rate = read_wav(path)
    return fit_length(resample(samples, rate, sample_rate), clip_samples)


def _read_folder(directory, split, sample_rate, clip_samples):
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"folder:{directory} is not a directory")
    names = sorted(d for d in os.listdir(directory) if os.path.isdir(os.path.join(directory, d)))
    if not names:
        raise ValueError(f"folder:{directory} has no label sub-folders")
    waveforms, labels, skipped = [], [], []
    for label, name in enumerate(names):
        for file in sorted(os.listdir(os.path.join(directory, name))):
            relative = f"{name}/{file}"
            if not file.lower().endswith(".wav") or folder_split(relative) != split:
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
    return AudioData(np.stack(waveforms), np.asarray(labels, "int32"), tuple(names))
