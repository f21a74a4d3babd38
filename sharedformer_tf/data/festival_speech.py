"""Words spoken by the Festival speech synthesizer (Debian's `festival` with
its `festvox-*` voices): a second engine, built from recordings of real
speakers, beside espeak-ng's formant synthesis.

One Festival process says every word of a speaker (voice x speaking rate) in
one batch, so the start-up cost is paid once per speaker, not per word.

`VOICES` are the voices used, each with its Debian package and its split:
three American English voices and eight voices of other languages (Catalan,
Czech, Finnish, Italian) that read the English words with their own
letter-to-sound rules, as accented speakers. A whole voice is on one side of
the split, so the test voices are never heard in training. Voices Festival
ships that are left out: `hindi_NSK_diphone` (crashes on Latin text) and
`msu_ru_nsh_clunits` (a Cyrillic front end; what it says for English spelling
is unchecked).
"""

import functools
import logging
import os
import re
import shutil
import subprocess
import tempfile

from sharedformer_tf.data.wav_files import decode_wav

logger = logging.getLogger("sharedformer_tf")

# voice -> (Debian package, split).
VOICES = {
    "kal_diphone": ("festvox-kallpc16k", "train"),  # American English, male
    "cmu_us_slt_arctic_hts": ("festvox-us-slt-hts", "train"),  # American English, female
    "ked_diphone": ("festvox-kdlpc16k", "test"),  # American English, male
    "pc_diphone": ("festvox-itapc16k", "train"),  # Italian, male
    "lp_diphone": ("festvox-italp16k", "train"),  # Italian, female
    "czech_machac": ("festvox-czech-machac", "train"),  # Czech, male
    "czech_ph": ("festvox-czech-ph", "train"),  # Czech, male
    "czech_krb": ("festvox-czech-krb", "train"),  # Czech, child
    "czech_dita": ("festvox-czech-dita", "test"),  # Czech, female
    "hy_fi_mv_diphone": ("festvox-suopuhe-mv", "train"),  # Finnish, male
    "suo_fi_lj_diphone": ("festvox-suopuhe-lj", "validation"),  # Finnish, female
    "upc_ca_ona_hts": ("festvox-ca-ona-hts", "train"),  # Catalan, female
}
PACKAGES = " ".join(["festival"] + sorted({package for package, _ in VOICES.values()}))
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


@functools.cache
def festival_voices():
    """Sorted names of every installed Festival voice (e.g. `kal_diphone`),
    including ones outside `VOICES`; asked once per process."""
    result = subprocess.run([festival_binary(), "-b", "(print (voice.list))"],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    names = re.findall(r"[A-Za-z0-9_]+", result.stdout)
    return tuple(sorted(set(names)))


def voices_of_split(split):
    """The `VOICES` of `split` that are installed, in `VOICES` order; missing
    ones are named in a warning with their packages."""
    installed = festival_voices()
    missing = [v for v in VOICES if v not in installed]
    if missing:
        packages = " ".join(VOICES[v][0] for v in missing)
        logger.warning("Festival voices %s are not installed and are skipped "
                       "(sudo apt-get install %s).", ", ".join(missing), packages)  # fmt: skip
    return [v for v, (_, part) in VOICES.items() if part == split and v in installed]


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
