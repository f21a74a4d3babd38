"""Writing every deployable form of a classifier into one directory."""

import json
import os

import numpy as np
import tensorflow as tf

from sharedformer_tf.export import tflite
from sharedformer_tf.export.tflite import tree_bytes
from sharedformer_tf.report import parameter_report

CLASSIFIER_QUANTIZATIONS = ("fp32", "fp16", "int8")
LABELS_FILE = "labels.txt"


def probabilities_function(model, input_dtype):
    """A `tf.function` from a batch of inputs of `input_dtype` (the model's
    input shape, any batch size) to float32 class probabilities; the form
    the TFLite models take."""
    shape = [None, *model.inputs[0].shape[1:]]

    def probabilities(inputs):
        logits = model(tf.cast(inputs, tf.float32), training=False)
        return tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)

    return tf.function(
        probabilities, input_signature=[tf.TensorSpec(shape, input_dtype, name="inputs")]
    )


def elastic_function(model, input_dtype):
    """A `tf.function` of an elastic-depth classifier (a `PatchClassifier`
    with several `depths`) from `inputs` of `input_dtype`, an int32 scalar
    `depth` budget and a float32 scalar confidence `threshold` to
    `{"probabilities": float32 [batch, classes], "depth": int32 [batch]}`
    (the depth each input left at): `model.adaptive_probabilities` with
    the exit rule inside the graph."""
    specs = [
        tf.TensorSpec([None, *model.inputs[0].shape[1:]], input_dtype, name="inputs"),
        tf.TensorSpec([], tf.int32, name="depth"),
        tf.TensorSpec([], tf.float32, name="threshold"),
    ]

    def elastic(inputs, depth, threshold):
        p, used = model.adaptive_probabilities(tf.cast(inputs, tf.float32), depth, threshold)
        return {"probabilities": p, "depth": used}

    return tf.function(elastic, input_signature=specs)


def export_classifier(model, class_names, directory, quantizations=CLASSIFIER_QUANTIZATIONS,
                      representative_inputs=None, input_dtype=tf.uint8):  # fmt: skip
    """Exports a classifier (a `ConfigModel` such as `ViTClassifier`) into
    `directory`:

    - `saved_model/`: `serving_default` signature taking `inputs` of
      `input_dtype` (e.g. uint8 images `[batch, height, width, channels]`)
      and returning `probabilities` float32 `[batch, classes]`, `class_id`
      int32 `[batch]` and `class_name` string `[batch]`; an elastic-depth
      model adds an `elastic` signature with two more inputs, `depth` (int32
      scalar, the depth budget) and `threshold` (float32 scalar, the
      confidence exit; `1.0`: none), and one more output, `depth` (int32
      `[batch]`, where each input left); its `serve` function takes the
      two as optional inputs (`loaded.serve(x)`, `loaded.serve(x, depth,
      threshold)`). It loads with `tf.saved_model.load` and needs no
      sharedformer_tf import;
    - `classifier_<quantization>.tflite`: inputs to probabilities, builtin
      ops only (checked; LiteRT from pip has no Flex delegate). `"int8"` is
      full integer quantization calibrated on `representative_inputs`,
      except the layers a model names in its `int8_float_layers` attribute
      (e.g. `AudioClassifier`'s spectrogram), which stay float32;
    - with several depths (elastic depth, `model.depths`):
      `classifier_elastic_<quantization>.tflite`, the SavedModel's
      `elastic` signature as one graph (`elastic_function`): each depth
      past the first runs inside an `IF` that is skipped once every input
      has exited, so every weight and every layer's graph is stored once
      (no `WHILE`); int8 is calibrated at full depth, so every exit is;
    - `labels.txt`: one class name a line, line `i` is class id `i`;
    - `export.json`: file sizes and stored parameters.

    A model trained under a mixed-precision policy is exported from a
    float32 copy with the same weights.

    Args:
        model: the Keras classifier (returns logits).
        class_names: sequence of class names.
        directory: output directory.
        quantizations: subset of `("fp32", "fp16", "int8")`.
        representative_inputs: array `[n, ...]` of typical inputs (e.g. a
            few hundred training images), needed for `"int8"`.
        input_dtype: dtype of the exported inputs.

    Returns:
        The `export.json` contents as a dict.
    """
    unknown = sorted(set(quantizations) - set(CLASSIFIER_QUANTIZATIONS))
    if unknown:
        raise ValueError(f"Expected quantizations in {CLASSIFIER_QUANTIZATIONS}. "
                         f"Received: {unknown}")  # fmt: skip
    no_samples = representative_inputs is None or not len(representative_inputs)
    if "int8" in quantizations and no_samples:
        raise ValueError("int8 export needs representative inputs. Received: none")
    model = model.in_float32()
    class_names = [str(name) for name in class_names]
    if len(class_names) != model.outputs[0].shape[-1]:
        raise ValueError(
            f"The model has {model.outputs[0].shape[-1]} classes but "
            f"{len(class_names)} class names were given. Received: {class_names}"
        )
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    function = probabilities_function(model, input_dtype)
    depths = getattr(model, "depths", ())
    elastic = elastic_function(model, input_dtype) if len(depths) > 1 else None
    saved_model_dir = os.path.join(directory, "saved_model")
    _export_saved_model(model, function, elastic, class_names, saved_model_dir)
    sizes = {"saved_model": tree_bytes(saved_model_dir)}
    with open(os.path.join(directory, LABELS_FILE), "w", encoding="utf-8") as f:
        f.writelines(f"{name}\n" for name in class_names)

    def representative():
        for x in representative_inputs:
            yield [np.asarray(x)[None].astype(input_dtype.as_numpy_dtype)]

    def elastic_representative():  # every depth runs: all exits calibrated
        for (inputs,) in representative():
            yield {"inputs": inputs, "depth": np.int32(max(depths)), "threshold": np.float32(1.0)}

    for quantization in quantizations:
        flatbuffer = tflite.convert_function(
            function, model, quantization, representative if quantization == "int8" else None,
            float_scopes=getattr(model, "int8_float_layers", ()),
        )  # fmt: skip
        name = f"classifier_{quantization}.tflite"
        sizes[name] = tflite.write_builtin_only(flatbuffer, os.path.join(directory, name))
        if elastic is not None:
            flatbuffer = tflite.convert_signatures(
                {"elastic": elastic}, model, quantization,
                elastic_representative if quantization == "int8" else None,
                float_scopes=getattr(model, "int8_float_layers", ()),
            )  # fmt: skip
            name = f"classifier_elastic_{quantization}.tflite"
            sizes[name] = tflite.write_builtin_only(flatbuffer, os.path.join(directory, name))
    report = parameter_report(model)
    summary = {
        "bytes": sizes,
        "unique_params": report["unique_params"],
        "effective_params": report["effective_params"],
        "input_shape": [None, *model.inputs[0].shape[1:]],
        "input_dtype": input_dtype.name,
        "depths": list(depths),
        "class_names": class_names,
    }
    with open(os.path.join(directory, "export.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def _export_saved_model(model, probabilities, elastic, class_names, directory):
    module = tf.Module()
    module.model = model
    module.class_names = tf.constant(class_names)

    def named(p):
        class_id = tf.argmax(p, axis=-1, output_type=tf.int32)
        return {
            "probabilities": p,
            "class_id": class_id,
            "class_name": tf.gather(module.class_names, class_id),
        }

    @tf.function(input_signature=probabilities.input_signature)
    def serve(inputs):
        return named(probabilities(inputs))

    signatures = {"serving_default": serve}
    if elastic is None:
        module.serve = serve
    else:  # the same variables, depth and threshold as (optional) inputs

        @tf.function(input_signature=elastic.input_signature)
        def serve_elastic(inputs, depth, threshold):
            outputs = elastic(inputs, depth, threshold)
            return {**named(outputs["probabilities"]), "depth": outputs["depth"]}

        @tf.function
        def serve_any(inputs, depth=None, threshold=None):
            if depth is None and threshold is None:
                return serve(inputs)
            return serve_elastic(inputs, depth, threshold)

        # `loaded.serve(x)` or `loaded.serve(x, depth, threshold)`.
        serve_any.get_concrete_function(*probabilities.input_signature)
        serve_any.get_concrete_function(*elastic.input_signature)
        module.serve = serve_any
        signatures["elastic"] = serve_elastic
    tf.saved_model.save(module, directory, signatures=signatures)
