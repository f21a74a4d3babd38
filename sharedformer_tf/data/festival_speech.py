"""Words spoken by the Festival speech synthesizer (Debian's `festival` with
its `festvox-*` voices): a second engine, built from recordings of real
speakers, beside espeak-ng's formant synthesis.

One Festival process says every word of a speaker (voice x speaking rate) in
one batch, so the start-up cost is paid once per speaker, not per word.
"""

import os
import re
import shutil
import subprocess
import tempfile

from sharedformer_tf.data.wav_files import decode_wav

PACKAGES = "festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"
# Speaking rates (Festival's Duration_Stretch): each voice x rate is a speaker.
STRETCHES = (0.85, 1.0, 1.2)
_WORD = re.compile(r"^[a-z][a-z' -]*$")


def festival_binary():
    """Path of `festival`, or a `FileNotFoundError` naming the packages."""
    path = shutil.which("festival")
    if path is None:
        raise FileNotFoundError(
            f"festival is not installed. Install it with `sudo apt-get install {PACKAGES}` "
            "(Debian/Ubuntu) or `make system-packages`."
        )
    return path


def festival_voices():
    """Sorted names of the installed Festival voices (e.g. `kal_diphone`)."""
    result = subprocess.run([festival_binary(), "-b", "(print (voice.list))"],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    names = re.findall(r"[A-Za-z0-9_]+", result.stdout)
    return sorted(set(names))


def say_words(voice, words, stretch=1.0):
    """Each of `words` spoken by Festival's `voice` at `stretch` (longer is
    slower), in one Festival process.

    Args:
        voice: a name from `festival_voices()`.
        words: lowercase words (letters, spaces, apostrophes, hyphens).
        stretch: float in [0.5, 2], Festival's `Duration_Stretch`.

    Returns:
        dict word -> `(samples, sample_rate)`: float32 mono samples in
        [-1, 1] at the voice's own rate.

    Raises:
        ValueError: a bad voice name, word or stretch, or Festival failed
            (its message is kept).
    """
    if voice not in festival_voices():
        raise ValueError(f"Festival has no voice {voice!r}. Installed: {festival_voices()}")
    if not 0.5 <= stretch <= 2:
        raise ValueError(f"`stretch` must be in [0.5, 2]. Received: stretch={stretch!r}")
    words = sorted(set(words))
    bad = [w for w in words if not _WORD.match(w)]
    if bad:
        raise ValueError(f"Festival words must be lowercase letters. Received: {bad}")
    with tempfile.TemporaryDirectory(prefix="festival-") as directory:
        lines = [f"(voice_{voice})", f"(Parameter.set 'Duration_Stretch {stretch})"]
        paths = [os.path.join(directory, f"{i}.wav") for i in range(len(words))]
        lines += [f'(utt.save.wave (utt.synth (Utterance Text "{word}")) "{path}" \'riff)'
                  for word, path in zip(words, paths, strict=True)]  # fmt: skip
        script = os.path.join(directory, "say.scm")
        with open(script, "w") as f:
            f.write("\n".join(lines) + "\n")
        result = subprocess.run([festival_binary(), "-b", script], capture_output=True,
                                text=True, timeout=600)  # fmt: skip
        missing = [w for w, p in zip(words, paths, strict=True) if not os.path.isfile(p)]
        if result.returncode or missing:
            reason = result.stderr.strip() or result.stdout.strip() or f"status {result.returncode}"
            raise ValueError(f"festival could not say {missing or words} as {voice}: {reason}")
        spoken = {}
        for word, path in zip(words, paths, strict=True):
            with open(path, "rb") as f:
                spoken[word] = decode_wav(f.read(), f"festival {voice} {word!r}")
        return spoken
