"""One layer test every Keras layer of the library passes (as keras-hub's
`TestCase.run_layer_test`): output shape, config round trip with equal
outputs, `.keras` round trip in safe mode with equal outputs, and mixed
precision with float32 variables."""

import keras
import numpy as np


def run_layer_test(layer_class, init_kwargs, input_data, expected_output_shape, tmp_path,
                   mixed_output_dtype="bfloat16", call_kwargs=None):  # fmt: skip
    """Checks `layer_class(**init_kwargs)` on `input_data` (one array, the
    layer's only call argument).

    Args:
        layer_class: the layer class.
        init_kwargs: constructor arguments.
        input_data: numpy array.
        expected_output_shape: tuple.
        tmp_path: a directory for the `.keras` file.
        mixed_output_dtype: the output dtype under `mixed_bfloat16` (`None`
            skips that check, for layers whose output stays float32).
        call_kwargs: optional dict of further (non-tensor) call arguments.
    """
    call_kwargs = call_kwargs or {}
    layer = layer_class(**init_kwargs)
    output = np.asarray(layer(input_data, **call_kwargs))
    assert output.shape == tuple(expected_output_shape)
    # Every constructor argument survives get_config and from_config, and the
    # restored layer with the same weights computes the same outputs.
    config = layer.get_config()
    restored = layer_class.from_config(config)
    assert restored.get_config() == config
    restored(input_data, **call_kwargs)
    restored.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        np.asarray(restored(input_data, **call_kwargs)), output, rtol=1e-5, atol=1e-6
    )
    # Saved as part of a model and loaded in safe mode: registered, serializable.
    inputs = keras.Input(input_data.shape[1:], dtype=str(input_data.dtype))
    model = keras.Model(inputs, layer_class.from_config(config)(inputs, **call_kwargs))
    model.layers[-1].set_weights(layer.get_weights())
    path = tmp_path / f"{layer_class.__name__}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(input_data)), output, rtol=1e-5, atol=1e-6)
    # Mixed precision: float32 variables, low-precision compute.
    mixed = layer_class(**init_kwargs, dtype="mixed_bfloat16")
    mixed_output = mixed(input_data, **call_kwargs)
    assert all(v.dtype == "float32" for v in mixed.weights)
    if mixed_output_dtype:
        assert mixed_output.dtype == mixed_output_dtype
