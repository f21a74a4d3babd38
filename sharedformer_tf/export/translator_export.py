"""Writing every deployable form of a translator into one directory."""

import json
import os

from sharedformer_tf.export import tflite
from sharedformer_tf.export.tflite import tree_bytes
from sharedformer_tf.export.translator_saved_model import export_saved_model
from sharedformer_tf.report import parameter_report
from sharedformer_tf.training.model_directory import TOKENIZER_FILE
from sharedformer_tf.translation.translator import Translator


def _in_float32(translator):
    model = translator.model.in_float32()
    return translator if model is translator.model else Translator(model, translator.tokenizer)


def export_translator(translator, directory, quantizations=tflite.QUANTIZATIONS):
    """Exports `translator` into `directory`:

    - `saved_model/`: strings in, strings out (`translate` signature);
    - `translator_<quantization>.tflite`: the greedy decoding loop on token
      ids, checked to use builtin ops only (LiteRT from pip has no Flex);
    - with several depths (elastic depth, `model.depths`):
      `translator_elastic_<quantization>.tflite`, one signature `depth_N`
      per depth in one file that stores each weight once (`export.json`
      gives its bytes over the single-depth file's as
      `elastic_bytes_ratio`), and the SavedModel's `translate_at_depth`;
    - `tokenizer.model`: the SentencePiece model the TFLite models need;
    - `export.json`: file sizes, stored parameters and the TFLite shapes.

    A model trained under a mixed-precision policy is rebuilt in float32
    first (its variables already are float32): exports compute in float32,
    and the TFLite variants choose their own weight precision.

    Returns:
        The `export.json` contents as a dict.
    """
    translator = _in_float32(translator)
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    saved_model = export_saved_model(translator, os.path.join(directory, "saved_model"))
    sizes = {"saved_model": tree_bytes(saved_model)}
    with open(os.path.join(directory, TOKENIZER_FILE), "wb") as f:
        f.write(translator.tokenizer.proto)
    length = translator.max_length
    for quantization in quantizations:
        flatbuffer = tflite.convert_generator(translator.model, length, length - 1, quantization)
        name = f"translator_{quantization}.tflite"
        sizes[name] = tflite.write_builtin_only(flatbuffer, os.path.join(directory, name))
    ratios = {}
    if len(translator.model.depths) > 1:
        for quantization in quantizations:
            flatbuffer = tflite.convert_generator(
                translator.model, length, length - 1, quantization, depths=translator.model.depths
            )
            name = f"translator_elastic_{quantization}.tflite"
            sizes[name] = tflite.write_builtin_only(flatbuffer, os.path.join(directory, name))
            ratios[quantization] = round(sizes[name] / sizes[f"translator_{quantization}.tflite"],
                                         4)  # fmt: skip
    report = parameter_report(translator.model)
    summary = {
        "export_dir": directory,
        "bytes": sizes,
        "unique_params": report["unique_params"],
        "fp32_param_bytes": report["fp32_bytes"],
        "tflite_input": ["int32", "batch", length],
        "tflite_output": ["int32", "batch", length - 1],
    }
    if ratios:
        summary.update(depths=list(translator.model.depths), elastic_bytes_ratio=ratios)
    with open(os.path.join(directory, "export.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary
