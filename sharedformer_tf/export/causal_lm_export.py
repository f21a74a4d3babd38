"""Deployable forms of a `TextGenerator`: a SavedModel (strings in, strings
out) and TFLite files with `prefill` and `decode` signatures for on-device
runners, and the LiteRT runner that generates with them."""

import json
import os

import numpy as np
import tensorflow as tf

# Private but stable TF API (see `tflite`): the weights become constants, so
# the converter stores them (its resource-variable path drops their values).
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from sharedformer_tf.export import tflite
from sharedformer_tf.generation.text_generator import TextGenerator
from sharedformer_tf.report import parameter_report
from sharedformer_tf.training.model_directory import TOKENIZER_FILE

DEFAULT_NEW_TOKENS = 64  # or half the context, if that is less


def default_new_tokens(context):
    """Tokens the SavedModel generates per prompt unless told: 64, at most
    half of the context (the other half is left to the prompt)."""
    return max(1, min(DEFAULT_NEW_TOKENS, context // 2))


class TextGeneratorModule(tf.Module):
    """A `tf.Module` whose `generate` continues a batch of prompts greedily:
    the generator's `CausalLMPreprocessor` (SentencePiece through
    tensorflow-text) and the cached decoding loop inside the graph. Loading
    the SavedModel needs only `tensorflow` and `tensorflow_text` (imported
    before `tf.saved_model.load`).

    Args:
        generator: a `generation.TextGenerator`.
        max_new_tokens: int, tokens generated after each prompt at most; a
            prompt keeps its last `context - 1 - max_new_tokens` tokens.
            Default: `default_new_tokens(context)`.
    """

    def __init__(self, generator, max_new_tokens=None):
        super().__init__(name="text_generator")
        max_new_tokens = max_new_tokens or default_new_tokens(generator.context)
        generator._check_budget(max_new_tokens)
        self.model = generator.model
        self.preprocessor = generator.preprocessor.copy()  # a resource of its own
        self.max_new_tokens = max_new_tokens
        self.room = generator.context - 1 - max_new_tokens

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="prompts")])
    def generate(self, prompts):
        """`prompts` `[batch]` tf.string -> continuations `[batch]` tf.string."""
        p = self.preprocessor
        ids = p.pad(p.prompt_ids(p.tokenize(prompts), self.room))
        lengths = tf.reduce_sum(tf.cast(tf.not_equal(ids, p.pad_id), tf.int32), axis=1)
        outputs = self.model.generate_step(ids, tf.shape(ids)[1] + self.max_new_tokens)
        # A shorter prompt of the batch got more tokens: keep max_new_tokens.
        beyond = tf.range(tf.shape(outputs)[1])[None, :] >= lengths[:, None] + self.max_new_tokens
        return p.detokenize_continuations(tf.where(beyond, p.pad_id, outputs), lengths)


def export_saved_model(generator, path, max_new_tokens=None):
    """Writes a SavedModel with a `generate` signature (tf.string `[batch]`
    -> tf.string `[batch]`) to `path` and returns `path`."""
    module = TextGeneratorModule(generator, max_new_tokens)
    tf.saved_model.save(module, path, signatures={"generate": module.generate})
    return path


def convert_prefill_decode(model, quantization="fp32"):
    """Converts a `SharedCausalLM` into one TFLite flatbuffer with two
    signatures and builtin ops only, batch 1, its context `L =
    config.max_length`, the KV cache an explicit tensor `[1, num_layers, 2,
    L, num_heads, head_dim]`:

    - `prefill(token_ids int32 [1, L])` -> `logits [1, L, vocabulary]`,
      `cache`: a right-padded prompt (padding positions are overwritten by
      later decode steps; causal attention never looks ahead);
    - `decode(token_ids int32 [1, 1], position int32 [], cache)` ->
      `logits [1, vocabulary]`, `cache`.

    Both signatures use the same weight buffers: the file stores every
    shared weight once.

    Returns:
        `bytes`.
    """
    if quantization not in tflite.QUANTIZATIONS:
        raise ValueError(f"Expected quantization in {tflite.QUANTIZATIONS}. "
                         f"Received: quantization={quantization!r}")  # fmt: skip
    model = model.in_float32()
    length = model.config.max_length
    cache_shape = tuple(model.init_cache(1, length).shape)

    def prefill(token_ids):
        # The empty cache is filled at run time with a zero computed from
        # the input: `model.init_cache` would be a constant of zeros that the
        # converter folds into the file (1 MiB at the demo's context).
        zero = tf.cast(tf.reduce_min(token_ids) * 0, tf.float32)
        empty = tf.fill(cache_shape, zero)
        logits, _, cache = model.call_with_cache(token_ids, empty, 0)
        return logits, cache

    def decode(token_ids, position, cache):
        logits, _, cache = model.call_with_cache(token_ids, cache, position)
        return logits[:, 0, :], cache

    ids_spec = tf.TensorSpec([1, length], tf.int32, name="token_ids")
    step_specs = [tf.TensorSpec([1, 1], tf.int32, name="token_ids"),
                  tf.TensorSpec([], tf.int32, name="position"),
                  tf.TensorSpec(cache_shape, tf.float32, name="cache")]  # fmt: skip
    frozen_prefill = convert_variables_to_constants_v2(
        tf.function(prefill, input_signature=[ids_spec]).get_concrete_function()
    )
    frozen_decode = convert_variables_to_constants_v2(
        tf.function(decode, input_signature=step_specs).get_concrete_function()
    )

    class Signatures(tf.Module):
        @tf.function(input_signature=[ids_spec])
        def prefill(self, token_ids):
            logits, cache = frozen_prefill(token_ids)
            return {"logits": logits, "cache": cache}

        @tf.function(input_signature=step_specs)
        def decode(self, token_ids, position, cache):
            logits, cache = frozen_decode(token_ids, position, cache)
            return {"logits": logits, "cache": cache}

    module = Signatures()
    functions = [module.prefill.get_concrete_function(), module.decode.get_concrete_function()]
    return tflite.builtin_converter(functions, module, quantization).convert()


class TFLiteTextGenerator:
    """Greedy generation with a `convert_prefill_decode` file on LiteRT's
    interpreter: prefill the prompt once, then one `decode` call per token
    with the cache passed along.

    Args:
        model: path to a `.tflite` file or its bytes.
        preprocessor: the model's `preprocessing.CausalLMPreprocessor`
            (`TextGenerator.load(DIR).preprocessor`), needed by `generate`.
    """

    def __init__(self, model, preprocessor=None):
        from ai_edge_litert.interpreter import Interpreter

        if isinstance(model, (bytes, bytearray)):
            self.interpreter = Interpreter(model_content=bytes(model))
        else:
            self.interpreter = Interpreter(model_path=str(model))
        self._prefill = self.interpreter.get_signature_runner("prefill")
        self._decode = self.interpreter.get_signature_runner("decode")
        self.context = int(self._prefill.get_input_details()["token_ids"]["shape"][1])
        self.preprocessor = preprocessor

    def generate_ids(self, prompt_ids, max_new_tokens, eos_id=None, pad_id=0):
        """Greedy continuation of one prompt.

        Args:
            prompt_ids: int ids `[length]` (BOS first), `length +
                max_new_tokens <= context`.
            max_new_tokens: int.
            eos_id: stop after this id (it is not returned), or `None`.
            pad_id: fills the prompt to the context for `prefill`.

        Returns:
            `(new_ids, logits)`: int32 `[n]` and float32 `[n, vocabulary]`,
            the logits each new id was chosen from.
        """
        prompt_ids = np.asarray(prompt_ids, np.int32).reshape(-1)
        if len(prompt_ids) < 1 or len(prompt_ids) + max_new_tokens > self.context:
            raise ValueError(
                f"The prompt and the new tokens must fit the context of {self.context}. "
                f"Received: prompt length {len(prompt_ids)}, max_new_tokens={max_new_tokens}"
            )
        padded = np.full([1, self.context], pad_id, np.int32)
        padded[0, : len(prompt_ids)] = prompt_ids
        out = self._prefill(token_ids=padded)
        logits, cache = out["logits"][0, len(prompt_ids) - 1], out["cache"]
        new_ids, all_logits = [], []
        for position in range(len(prompt_ids), len(prompt_ids) + max_new_tokens):
            token = int(np.argmax(logits))
            if token == eos_id:
                break
            new_ids.append(token)
            all_logits.append(logits)
            if len(new_ids) == max_new_tokens:
                break
            out = self._decode(token_ids=np.array([[token]], np.int32),
                               position=np.array(position, np.int32), cache=cache)  # fmt: skip
            logits, cache = out["logits"][0], out["cache"]
        return np.array(new_ids, np.int32), np.array(all_logits, np.float32)

    def generate(self, texts, max_new_tokens=None):
        """Greedy continuations of prompt strings (like the SavedModel's
        `generate` signature)."""
        if self.preprocessor is None:
            raise ValueError("`generate` needs the model's preprocessor. Received: None")
        p = self.preprocessor
        max_new_tokens = max_new_tokens or default_new_tokens(self.context)
        room = self.context - 1 - max_new_tokens
        outputs = []
        for text in texts:
            ids = p.pad(p.prompt_ids(p.tokenize([text]), room)).numpy()[0]
            new_ids, _ = self.generate_ids(ids, max_new_tokens, p.eos_id, p.pad_id)
            row = np.concatenate([ids, new_ids])[None, :]
            outputs.append(p.detokenize_continuations(row, [len(ids)])[0])
        return outputs


def export_text_generator(generator, directory, quantizations=tflite.QUANTIZATIONS,
                          max_new_tokens=None):  # fmt: skip
    """Exports `generator` into `directory`:

    - `saved_model/`: prompts in, continuations of at most `max_new_tokens`
      (default `default_new_tokens(context)`) out (`generate` signature);
    - `generator_<quantization>.tflite`: `prefill` and `decode` signatures
      (`convert_prefill_decode`), checked to use builtin ops only;
    - `tokenizer.model`: the SentencePiece model the TFLite runner needs;
    - `export.json`: file sizes, stored parameters and the signatures' shapes.

    Returns:
        The `export.json` contents as a dict.
    """
    max_new_tokens = max_new_tokens or default_new_tokens(generator.context)
    generator._check_budget(max_new_tokens)  # before anything is written
    model = generator.model.in_float32()
    if model is not generator.model:
        generator = TextGenerator(model, generator.tokenizer)
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    path = export_saved_model(generator, os.path.join(directory, "saved_model"), max_new_tokens)
    sizes = {"saved_model": tflite.tree_bytes(path)}
    with open(os.path.join(directory, TOKENIZER_FILE), "wb") as f:
        f.write(generator.tokenizer.proto)
    for quantization in quantizations:
        name = f"generator_{quantization}.tflite"
        flatbuffer = convert_prefill_decode(model, quantization)
        sizes[name] = tflite.write_builtin_only(flatbuffer, os.path.join(directory, name))
    report = parameter_report(model)
    summary = {
        "export_dir": directory,
        "bytes": sizes,
        "unique_params": report["unique_params"],
        "fp32_param_bytes": report["fp32_bytes"],
        "context": model.config.max_length,
        "cache_shape": list(model.init_cache(1, model.config.max_length).shape),
        "saved_model_max_new_tokens": max_new_tokens,
    }
    with open(os.path.join(directory, "export.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary
