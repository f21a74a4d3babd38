import json

import pytest

from sharedformer_tf import training

RUN = {"data": "builtin:en-fr", "layers": None}


def test_fresh_directory_is_created(tmp_path):
    out = tmp_path / "run"
    assert training.prepare_run_directory(str(out), RUN) is False
    assert out.is_dir()


def test_interrupted_run_with_same_config_resumes(tmp_path):
    training.write_run_config(str(tmp_path), RUN, model={"hidden_dim": 8})
    (tmp_path / "backup").mkdir()
    (tmp_path / "tokenizer.model").write_bytes(b"keep me")
    assert training.prepare_run_directory(str(tmp_path), RUN) is True
    assert (tmp_path / "tokenizer.model").read_bytes() == b"keep me"
    assert json.loads((tmp_path / "config.json").read_text())["model"] == {"hidden_dim": 8}


def test_interrupted_run_with_other_config_is_refused(tmp_path):
    training.write_run_config(str(tmp_path), RUN)
    (tmp_path / "backup").mkdir()
    with pytest.raises(ValueError, match="another configuration"):
        training.prepare_run_directory(str(tmp_path), {**RUN, "layers": 8})
    assert (
        training.prepare_run_directory(str(tmp_path), {**RUN, "layers": 8}, overwrite=True) is False
    )
    assert not (tmp_path / "backup").exists()


def test_finished_model_needs_overwrite(tmp_path):
    (tmp_path / "model.keras").write_bytes(b"trained")
    with pytest.raises(ValueError, match="--overwrite"):
        training.prepare_run_directory(str(tmp_path), RUN)
    assert (tmp_path / "model.keras").exists()
    training.prepare_run_directory(str(tmp_path), RUN, overwrite=True)
    assert not (tmp_path / "model.keras").exists()
