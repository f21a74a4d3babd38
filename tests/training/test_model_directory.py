import json

import pytest

from sharedformer_tf import training


def test_run_config_round_trip(tmp_path):
    training.write_run_config(tmp_path, {"data": "builtin"}, model={"hidden_dim": 8})
    config = training.read_run_config(tmp_path, required=("run", "model"))
    assert config == {"run": {"data": "builtin"}, "model": {"hidden_dim": 8}}
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(
    "text, error, message",
    [
        (None, FileNotFoundError, "not a model directory written by train"),
        ("{", ValueError, r"config\.json is not valid JSON"),
        ("[1, 2]", ValueError, "is not a JSON object. Received: list"),
        (json.dumps({"run": {}}), ValueError, "has no 'model' section"),
    ],
)
def test_bad_run_configs_are_named(tmp_path, text, error, message):
    if text is not None:
        (tmp_path / "config.json").write_text(text)
    with pytest.raises(error, match=message):
        training.read_run_config(tmp_path, required=("run", "model"))


def test_load_keras_model_names_a_damaged_file(tmp_path):
    import keras

    path = tmp_path / "model.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(path)
    assert training.load_keras_model(path).outputs[0].shape[-1] == 2
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ValueError, match=r"model\.keras is not a loadable Keras model"):
        training.load_keras_model(path)
    with pytest.raises(FileNotFoundError, match="no such model file"):
        training.load_keras_model(tmp_path / "missing.keras")
