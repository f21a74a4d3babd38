"""Helpers of the app tests: running an app in-process and comparing
directories byte for byte."""

import importlib.util

import pytest


def load_app(path):
    """The app script at `path` as a module (its `main(argv)` runs in-process)."""
    spec = importlib.util.spec_from_file_location(path.rsplit("/", 1)[-1][:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exit_code_and_error(app, argv, capsys):
    """Runs `app.main(argv)`, which must exit; returns its status and stderr."""
    code, _, error = exit_code_and_output(app, argv, capsys)
    return code, error


def exit_code_and_output(app, argv, capsys):
    """Runs `app.main(argv)`, which must exit; returns its status, stdout and
    stderr."""
    with pytest.raises(SystemExit) as info:
        app.main(argv)
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def snapshot(directory):
    """Every file under `directory`: relative path -> bytes."""
    return {p.relative_to(directory): p.read_bytes() for p in directory.rglob("*") if p.is_file()}
