"""Rows of a long benchmark kept in a JSON-lines file across runs: each row
is appended as soon as its model finishes, with the settings it was trained
with and the commit, and a later run of the same command reuses the rows of
the same settings instead of training them again. Seeds too long for one
sitting are added by later runs with more `--seeds`, and the summary pairs
them all. Shared by `translate_quality.py` and `lm_quality.py`.
"""

import json
import os
import subprocess

# What identifies a row within equal settings.
KEY = ("model", "seed", "learning_rate")


def commit():
    """The repository's commit (where a row was trained), or `None` (no git,
    or not a checkout)."""
    try:
        result = subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True,
                                cwd=os.path.dirname(os.path.abspath(__file__)))  # fmt: skip
    except OSError:
        return None
    return result.stdout.strip() or None


def add_flag(parser):
    """The `--rows FILE` flag."""
    parser.add_argument("--rows", help="JSON-lines file of finished rows: appended to, and "
                        "rows of the same settings are reused")  # fmt: skip


def check_path(parser, path):
    """Refuses `--rows PATH` (through argparse, exit 2) before anything
    trains if its directory is missing or a line of it is not a JSON row."""
    if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        parser.error(f"--rows: no directory for {path!r}")
    try:
        read_rows(path, None)
    except ValueError as error:
        parser.error(f"--rows: {error}")


def read_rows(path, settings):
    """The rows of the JSON-lines file `path` (if it exists) trained with
    `settings` (a row may record more settings than asked for: those of an
    older version of the benchmark), keyed by `(model, seed,
    learning_rate)`: rows of several learning rates (tuning runs) share a
    file."""
    if not path or not os.path.exists(path):
        return {}
    rows = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}, line {number}: not a JSON row ({error})") from None
                missing = [k for k in KEY if not isinstance(row, dict) or k not in row]
                if missing:
                    raise ValueError(f"{path}, line {number}: a row without {missing}")
                rows.append(row)
    return {tuple(r[k] for k in KEY): r for r in rows
            if settings is None or all(r.get("settings", {}).get(k, None) == v
                                       for k, v in settings.items())}  # fmt: skip


def find_row(path, settings, key):
    """The row of `path` for `key` (`(model, seed, learning_rate)`) trained
    with `settings`, or `None`. The file is read again on every call, so a
    row another run of the same command has just appended is reused, not
    trained twice."""
    return read_rows(path, settings).get(key)


def append_row(path, row):
    """Appends `row` to `path` (nothing without a path)."""
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")
