"""The files of a model directory written by an app's `train`: `config.json`
(how the run was made) and `model.keras`, read back with errors that name
the file."""

import json
import os

RUN_FILE = "config.json"


def write_run_config(directory, run, **sections):
    """Writes `{"run": run, **sections}` to `directory/config.json` through a
    temporary file, so an interruption never leaves a torn file."""
    path = os.path.join(directory, RUN_FILE)
    with open(path + ".tmp", "w") as f:
        json.dump({"run": run, **sections}, f, indent=2)
    os.replace(path + ".tmp", path)


def read_run_config(directory, required=("run",)):
    """Reads `directory/config.json`.

    Args:
        directory: a model directory written by an app's `train`.
        required: top-level keys the file must have.

    Returns:
        The parsed dict.

    Raises:
        FileNotFoundError: there is no `config.json`.
        ValueError: it is not a JSON object or lacks a `required` key (the
            message names the file).
    """
    path = os.path.join(os.fspath(directory), RUN_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{directory} is not a model directory written by train (missing {path})"
        )
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}); it was not written by train "
                         "or has been damaged") from None  # fmt: skip
    if not isinstance(config, dict):
        raise ValueError(f"{path} is not a JSON object. Received: {type(config).__name__}")
    missing = [key for key in required if key not in config]
    if missing:
        raise ValueError(f"{path} has no {missing[0]!r} section; it was not written by train "
                         "or has been edited")  # fmt: skip
    return config


def load_keras_model(path):
    """`keras.saving.load_model(path, compile=False, safe_mode=True)`.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: the file cannot be loaded (truncated, damaged or not a
            `.keras` file); the message names it.
    """
    import keras

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such model file")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # zipfile, h5py, JSON and Keras errors alike
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        raise ValueError(f"{path} is not a loadable Keras model (truncated or damaged? "
                         f"{type(error).__name__}: {reason}); train again or restore "
                         "the file") from None  # fmt: skip


MODEL_FILE = "model.keras"
TOKENIZER_FILE = "tokenizer.model"


def save_token_model(directory, model, tokenizer):
    """Writes `model.keras` and `tokenizer.model` (a keras-hub
    `SentencePieceTokenizer`'s proto) into `directory`, each through a
    temporary file so an interruption never leaves a torn file."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, MODEL_FILE)
    model.save(path + ".tmp.keras")
    os.replace(path + ".tmp.keras", path)
    path = os.path.join(directory, TOKENIZER_FILE)
    with open(path + ".tmp", "wb") as f:
        f.write(tokenizer.proto)
    os.replace(path + ".tmp", path)


def load_token_model(directory, what, train_command):
    """`(model, tokenizer)` from a directory written by `save_token_model`.

    Args:
        directory: the model directory.
        what: what it holds, for the error (e.g. `"translator"`).
        train_command: the command that makes one, for the error.

    Raises:
        FileNotFoundError: a file is missing (the message names it and
            `train_command`).
    """
    from sharedformer_tf.data.sentencepiece_vocabulary import load_sentencepiece

    paths = [os.path.join(directory, name) for name in (MODEL_FILE, TOKENIZER_FILE)]
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{directory!r} is not a trained {what} directory: missing "
                                    f"{path!r}. Train one with `{train_command}`.")  # fmt: skip
    return load_keras_model(paths[0]), load_sentencepiece(paths[1])
