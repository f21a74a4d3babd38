import pytest

from sharedformer_tf import training
from sharedformer_tf.app import RunDirectory
from sharedformer_tf.app.run_directory import MARKER

RUN = {"data": "builtin:en-fr", "epochs": 3}


def finished_run(directory, run=RUN):
    """A directory as a finished `train` leaves it."""
    directory.mkdir()
    (directory / MARKER).write_text("{}")
    training.write_run_config(directory, run)
    (directory / "model.keras").write_bytes(b"trained weights")
    return directory


def interrupted_run(directory, run=RUN):
    directory.mkdir()
    (directory / MARKER).write_text("{}")
    training.write_run_config(directory, run)
    (directory / "backup").mkdir()
    return directory


def snapshot(directory):
    return {p.relative_to(directory): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def test_fresh_directory_is_written_in_place_with_a_marker(tmp_path):
    run = RunDirectory(tmp_path / "out", RUN)
    assert run.work == str(tmp_path / "out") and not run.resuming
    assert not (tmp_path / "out").exists()  # deciding writes nothing
    run.create()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [MARKER]


@pytest.mark.parametrize("overwrite", [False, True])
def test_foreign_files_are_never_touched(tmp_path, overwrite):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds files that train did not write"):
        RunDirectory(tmp_path, RUN, overwrite=overwrite)
    assert snapshot(tmp_path) == {(tmp_path / "notes.txt").relative_to(tmp_path): b"mine"}


def test_a_file_is_not_a_run_directory(tmp_path):
    (tmp_path / "out").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a directory"):
        RunDirectory(tmp_path / "out", RUN, overwrite=True)


def test_finished_model_needs_overwrite(tmp_path):
    out = finished_run(tmp_path / "out")
    with pytest.raises(ValueError, match="already holds a trained model; pass --overwrite"):
        RunDirectory(out, RUN)


def test_overwrite_trains_aside_and_swaps_only_when_finished(tmp_path):
    out = finished_run(tmp_path / "out")
    (tmp_path / "out.replaced").mkdir()  # a name the swap must not take for its own
    (tmp_path / "out.replaced" / "notes.txt").write_text("mine")
    before = snapshot(out)
    run = RunDirectory(out, {**RUN, "epochs": 5}, overwrite=True)
    assert run.work == str(out) + ".partial" and not run.resuming
    run.create()
    (tmp_path / "out.partial" / "model.keras").write_bytes(b"new weights")
    assert snapshot(out) == before  # the old model is whole until the new one is done
    run.commit()
    assert (out / "model.keras").read_bytes() == b"new weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out.replaced"]
    assert (tmp_path / "out.replaced" / "notes.txt").read_text() == "mine"
    assert run.work == str(out)


def test_interrupted_overwrite_resumes_aside(tmp_path):
    out = finished_run(tmp_path / "out")
    interrupted_run(tmp_path / "out.partial", {**RUN, "epochs": 5})
    run = RunDirectory(out, {**RUN, "epochs": 5}, overwrite=True)
    assert run.work == str(out) + ".partial" and run.resuming
    with pytest.raises(ValueError, match="an interrupted --overwrite run waits in"):
        RunDirectory(out, {**RUN, "epochs": 5})


def test_a_stale_partial_run_of_other_flags_is_cleared(tmp_path):
    out = finished_run(tmp_path / "out")
    interrupted_run(tmp_path / "out.partial", {**RUN, "epochs": 9})
    run = RunDirectory(out, RUN, overwrite=True)
    assert not run.resuming
    run.create()
    assert sorted(p.name for p in (tmp_path / "out.partial").iterdir()) == [MARKER]


def test_a_foreign_partial_directory_is_refused(tmp_path):
    out = finished_run(tmp_path / "out")
    (tmp_path / "out.partial").mkdir()
    (tmp_path / "out.partial" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="out.partial holds files that train did not write"):
        RunDirectory(out, RUN, overwrite=True)


def test_interrupted_run_resumes_only_with_the_same_description(tmp_path):
    out = interrupted_run(tmp_path / "out")
    run = RunDirectory(out, RUN)
    assert run.resuming and run.work == str(out)
    with pytest.raises(ValueError, match=r"another configuration \(epochs: 3 -> 4\)"):
        RunDirectory(out, {**RUN, "epochs": 4})
    again = RunDirectory(out, RUN, overwrite=True)  # the same command with --overwrite resumes
    assert again.resuming and again.work == str(out)
