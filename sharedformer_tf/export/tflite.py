"""TFLite conversion with builtin ops only: the cached greedy decoding loop
(token ids in and out), any single-signature function, and several
functions as the signatures of one file."""

import os

import numpy as np
import tensorflow as tf

# Private but stable TF API: freezing is needed because variables read inside
# a `while` body are otherwise left as resource variables that the TFLite
# runtime cannot initialize.
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

QUANTIZATIONS = ("fp32", "fp16", "dynamic-int8")


def convert_generator(model, source_length, max_output_length, quantization="fp32", depths=None):
    """Converts `model.generate_step` (the whole greedy decoding loop with its
    fixed-size KV caches) into a TFLite flatbuffer with builtin ops only.

    Args:
        model: a `Seq2SeqTransformer`.
        source_length: int, fixed source width; inputs are padded with 0.
        max_output_length: int, number of output ids.
        quantization: `"fp32"`, `"fp16"` (float16 weights) or
            `"dynamic-int8"` (dynamic-range int8 weights).
        depths: `None` (one signature, the plan's depth) or depths of
            `model.depths`: one signature `depth_N` each (input
            `token_ids`, output `output_ids`) in one file that stores each
            weight once (`convert_signatures`).

    Returns:
        `bytes`: a model taking int32 ids `[batch, source_length]` (batch
        resizable) and returning int32 ids `[batch, max_output_length]`.
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"Expected quantization in {QUANTIZATIONS}. Received: quantization={quantization!r}"
        )
    spec = [tf.TensorSpec([None, source_length], tf.int32, name="token_ids")]
    if depths is None:
        function = tf.function(
            lambda token_ids: model.generate_step(token_ids, max_output_length),
            input_signature=spec,
        )
        return convert_function(function, model, quantization)
    for depth in depths:
        model.check_run(depth)

    def at_depth(depth):
        return tf.function(lambda token_ids: {"output_ids": model.generate_step(
            token_ids, max_output_length, depth=depth)}, input_signature=spec)  # fmt: skip

    return convert_signatures({f"depth_{d}": at_depth(d) for d in depths}, model, quantization)


def convert_function(function, trackable, quantization="fp32", representative_dataset=None,
                     float_scopes=()):  # fmt: skip
    """Freezes a `tf.function` with one input signature and converts it to
    a TFLite flatbuffer with builtin ops only (the pip LiteRT runtime has no
    Flex delegate).

    Args:
        function: a `tf.function` with an `input_signature`.
        trackable: the object owning its variables (e.g. the Keras model).
        quantization: `"fp32"`, `"fp16"` (float16 weights), `"dynamic-int8"`
            (dynamic-range int8 weights) or `"int8"` (full integer
            quantization of weights and activations; float input/output).
        representative_dataset: for `"int8"`, a callable yielding lists of
            input arrays to calibrate activation ranges.
        float_scopes: for `"int8"`, name scopes (e.g. a layer name such as
            `"log_mel"`) whose ops stay in float32 while the rest is integer
            (selective quantization): for parts whose activations span more
            range than one int8 scale can hold, like a power spectrum.

    Returns:
        `bytes`.
    """
    frozen = convert_variables_to_constants_v2(function.get_concrete_function())
    return _convert([frozen], trackable, quantization, representative_dataset, float_scopes)


def convert_signatures(functions, trackable, quantization="fp32", representative_dataset=None,
                       float_scopes=()):  # fmt: skip
    """Converts several `tf.function`s into one TFLite flatbuffer with one
    signature each (builtin ops only). Each function is frozen on its own
    with its control flow kept (`tf.cond` becomes a TFLite `IF`); the
    converter stores a constant that several of them read once, so
    functions that call the same weights add their graph, not their
    weights.

    Args:
        functions: dict from signature key (e.g. `"elastic"`) to a
            `tf.function` with an `input_signature`, returning a dict of
            tensors.
        trackable: the object owning their variables.
        quantization: `"fp32"`, `"fp16"`, `"dynamic-int8"` or `"int8"` (as
            `convert_function`).
        representative_dataset: for `"int8"`, a callable yielding dicts
            from input name to array.
        float_scopes: for `"int8"`, name scopes that stay float32.

    Returns:
        `bytes`.
    """
    concrete = [_frozen_as(key, function) for key, function in functions.items()]
    return _convert(concrete, trackable, quantization, representative_dataset, float_scopes)


def _convert(concrete_functions, trackable, quantization, representative_dataset, float_scopes):
    if quantization not in QUANTIZATIONS + ("int8",):
        raise ValueError(
            f"Expected quantization in {QUANTIZATIONS + ('int8',)}. "
            f"Received: quantization={quantization!r}"
        )
    if quantization == "int8" and representative_dataset is None:
        raise ValueError("quantization='int8' needs a `representative_dataset`. Received: None")
    converter = builtin_converter(concrete_functions, trackable, quantization)
    if quantization == "int8":
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if float_scopes:
            return _quantize_except(converter, concrete_functions, trackable, float_scopes)
    return converter.convert()


def builtin_converter(concrete_functions, trackable, quantization):
    """A `TFLiteConverter` of `concrete_functions` (one signature each) for
    builtin ops only, with the weight quantization of `quantization`
    (`"fp32"`: none; `"fp16"`; `"dynamic-int8"` and `"int8"`: the default
    optimizations, which `"int8"` completes with a representative dataset)."""
    converter = tf.lite.TFLiteConverter.from_concrete_functions(concrete_functions, trackable)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    return converter


def _frozen_as(key, function):
    """The concrete function of `function` with its variables frozen, named
    `key` (the converter takes a signature's key from the name). Control
    flow stays functional (TFLite `IF`), with the weights each branch reads
    moved into the branch (`_sink_branch_constants`)."""
    original = function.get_concrete_function()
    frozen = convert_variables_to_constants_v2(original, lower_control_flow=False)
    graph_def = frozen.graph.as_graph_def()
    if _sink_branch_constants(graph_def):
        wrapped = tf.compat.v1.wrap_function(
            lambda: tf.graph_util.import_graph_def(graph_def, name=""), []
        )
        frozen = wrapped.prune(
            [wrapped.graph.get_tensor_by_name(t.name) for t in frozen.inputs],
            [wrapped.graph.get_tensor_by_name(t.name) for t in frozen.outputs],
        )

    def call(*args):
        return tf.nest.pack_sequence_as(original.structured_outputs, tf.nest.flatten(frozen(*args)))

    call.__name__ = key
    return tf.function(call, input_signature=function.input_signature).get_concrete_function()


def _sink_branch_constants(graph_def):
    """Rewrites a frozen `graph_def` in place so that every constant an
    `If` passes to its branches becomes a constant inside the branches.

    Freezing turns the weights a branch reads into operands of the `If`;
    the converter then stores them once as the `IF` operand (in the layout
    the TF kernel has) and once more wherever the outer graph reads them (in
    the layout it folds for `FULLY_CONNECTED`), and the branch transposes
    them at run time. As constants inside the branches they are folded like
    any other weight, and the flatbuffer stores identical buffers once.

    Returns:
        Whether anything was moved.
    """
    functions = {f.signature.name: f for f in graph_def.library.function}
    moved = _sink_if_operands(graph_def.node, _graph_constant(graph_def.node), functions)
    changed = moved
    while changed:  # constants moved into a branch feed the `If`s inside it
        changed = False
        for function in functions.values():
            changed |= _sink_if_operands(function.node_def, _function_constant(function),
                                         functions)  # fmt: skip
        moved |= changed
    if moved:  # new names: the old functions stay registered in TF's context
        renamed = {name: f"{name}_sunk" for name in functions}
        for function in functions.values():
            function.signature.name = renamed[function.signature.name]
        for nodes in [graph_def.node, *(f.node_def for f in functions.values())]:
            for node in nodes:
                for value in node.attr.values():
                    if value.HasField("func"):
                        value.func.name = renamed.get(value.func.name, value.func.name)
                    for func in value.list.func:
                        func.name = renamed.get(func.name, func.name)
    return moved


def _graph_constant(nodes):
    by_name = {node.name: node for node in nodes}

    def constant(ref):
        node = by_name.get(ref.split(":")[0])
        return node if node is not None and node.op == "Const" else None

    return constant


def _function_constant(function):
    by_name = {node.name: node for node in function.node_def}

    def constant(ref):
        parts = ref.split(":")
        node = by_name.get(parts[0]) if len(parts) == 3 and parts[2] == "0" else None
        return node if node is not None and node.op == "Const" else None

    return constant


def _sink_if_operands(nodes, constant, functions):
    moved = False
    for node in nodes:
        if node.op not in ("If", "StatelessIf"):
            continue
        data = [ref for ref in node.input[1:] if not ref.startswith("^")]
        control = [ref for ref in node.input[1:] if ref.startswith("^")]
        sunk = {index: constant(ref) for index, ref in enumerate(data)}
        sunk = {index: const for index, const in sunk.items() if const is not None}
        if not sunk:
            continue
        for branch in ("then_branch", "else_branch"):
            _replace_arguments(functions[node.attr[branch].func.name], sunk)
        types = list(node.attr["Tin"].list.type)
        kept = [index for index in range(len(data)) if index not in sunk]
        cond = node.input[0]
        del node.input[:]
        node.input.extend([cond, *(data[i] for i in kept), *control])
        node.attr["Tin"].list.type[:] = [types[i] for i in kept]
        if "_input_shapes" in node.attr:  # the shapes of the kept data inputs
            shapes = list(node.attr["_input_shapes"].list.shape)
            node.attr["_input_shapes"].list.shape[:] = [shapes[i] for i in kept]
        moved = True
    return moved


def _replace_arguments(function, sunk):
    """Replaces the arguments `sunk` (index -> `Const` node) of `function`
    by constant nodes inside it."""
    args = list(function.signature.input_arg)
    taken = {node.name for node in function.node_def}
    renamed = {}
    for index, const in sunk.items():
        name = f"{args[index].name}_sunk"
        while name in taken:
            name += "_"
        taken.add(name)
        node = function.node_def.add()
        node.name, node.op = name, "Const"
        node.attr["dtype"].CopyFrom(const.attr["dtype"])
        node.attr["value"].CopyFrom(const.attr["value"])
        renamed[args[index].name] = f"{name}:output:0"
    for node in function.node_def:
        node.input[:] = [renamed.get(ref, ref) for ref in node.input]
    for key in list(function.ret):
        function.ret[key] = renamed.get(function.ret[key], function.ret[key])
    kept = [index for index in range(len(args)) if index not in sunk]
    arg_attr = {i: function.arg_attr[old] for i, old in enumerate(kept) if old in function.arg_attr}
    unique = {i: function.resource_arg_unique_id[old] for i, old in enumerate(kept)
              if old in function.resource_arg_unique_id}  # fmt: skip
    del function.signature.input_arg[:]
    function.signature.input_arg.extend([args[i] for i in kept])
    function.arg_attr.clear()
    for i, attr in arg_attr.items():
        function.arg_attr[i].CopyFrom(attr)
    function.resource_arg_unique_id.clear()
    function.resource_arg_unique_id.update(unique)


def _quantize_except(converter, concrete_functions, trackable, float_scopes):
    """Full int8 conversion that keeps the ops under `float_scopes` float."""
    from ai_edge_litert.interpreter import Interpreter

    plain = tf.lite.TFLiteConverter.from_concrete_functions(concrete_functions, trackable)
    plain.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    tensors = Interpreter(model_content=plain.convert()).get_tensor_details()
    keep_float = [t["name"] for t in tensors if any(f"/{s}" in t["name"] for s in float_scopes)]
    if not keep_float:
        raise ValueError(f"No op is under the float scopes. Received: float_scopes={float_scopes}")
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                           tf.lite.OpsSet.TFLITE_BUILTINS]  # fmt: skip
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter,
        debug_dataset=converter.representative_dataset,
        debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=keep_float),
    )
    return debugger.get_nondebug_quantized_model()


def write_builtin_only(flatbuffer, path):
    """Writes a TFLite model to `path` after checking that it uses no
    `Flex*` op (LiteRT from pip has no Flex delegate to run them), made
    smaller by `compact_flatbuffer`.

    Returns:
        The number of bytes written.
    """
    flex = [op for op in op_names(flatbuffer) if op.startswith("Flex")]
    if flex:
        raise RuntimeError(f"{path}: the TFLite model needs Flex ops {flex}, which LiteRT lacks")
    flatbuffer = compact_flatbuffer(flatbuffer)
    with open(path, "wb") as f:
        f.write(flatbuffer)
    return len(flatbuffer)


def compact_flatbuffer(flatbuffer):
    """`flatbuffer` without the names of its intermediate tensors, with
    identical quantization parameters and int32 vectors written once and
    every tensor without data pointing at the empty buffer 0.

    Names: the TF op paths the converter keeps for debugging, about a
    tenth of a small model's bytes (measured: 567,336 -> 491,504 bytes for
    the image app's classifier), and more for a graph with control flow;
    the tensors that a signature or a subgraph takes in or gives out keep
    theirs. Quantization: a weight read by several subgraphs (the `IF`
    branches of an elastic-depth file) has a tensor in each, and each
    tensor carried its own copy of the weight's per-channel scales and zero
    points; equal tables are now one table that the tensors point to
    (FlatBuffers allows it; the values read are the same). Vectors: the
    tensors' shapes and the operators' input and output lists repeat
    (every depth has tensors of the same shapes), and equal ones are now
    one vector. Buffers: the converter gives every tensor a buffer of its
    own, empty unless the tensor is a constant; TFLite's schema reserves
    buffer 0 as the empty buffer for them, so the empty ones are dropped.

    Returns:
        `bytes`.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    keep = set()
    for signature in model.signatureDefs or []:
        for tensor_map in [*(signature.inputs or []), *(signature.outputs or [])]:
            keep.add((signature.subgraphIndex, int(tensor_map.tensorIndex)))
    written = {}
    for index, subgraph in enumerate(model.subgraphs):
        ends = [*(subgraph.inputs if subgraph.inputs is not None else []),
                *(subgraph.outputs if subgraph.outputs is not None else [])]  # fmt: skip
        keep.update((index, int(i)) for i in ends)
        for position, tensor in enumerate(subgraph.tensors):
            if (index, position) not in keep:
                tensor.name = None
            if tensor.quantization is not None:
                tensor.quantization = _WrittenOnce(tensor.quantization, written)
    _drop_empty_buffers(model)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(_SharedVectors(model)))


def _drop_empty_buffers(model):
    """Points every tensor whose buffer holds nothing at buffer 0 (the
    schema's empty sentinel) and drops the buffers no longer read."""

    def empty(buffer):
        return (buffer.data is None or not len(buffer.data)) and not buffer.offset

    if not model.buffers or not empty(model.buffers[0]):
        return
    kept = {0: 0}

    def new_index(old):
        if empty(model.buffers[old]):
            return 0
        return kept.setdefault(old, len(kept))

    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            tensor.buffer = new_index(tensor.buffer)
    for entry in model.metadata or []:
        entry.buffer = kept.setdefault(entry.buffer, len(kept))
    if model.metadataBuffer is not None:
        model.metadataBuffer = [kept.setdefault(int(i), len(kept)) for i in model.metadataBuffer]
    buffers = [None] * len(kept)
    for old, new in kept.items():
        buffers[new] = model.buffers[old]
    model.buffers = buffers


class _SharedVectors:
    """Stands for the model object when it is packed, handing every table
    a builder on which an int32 vector equal to one written before is not
    written again (its offset is reused)."""

    def __init__(self, model):
        self.model = model

    def Pack(self, builder):  # noqa: N802 (the FlatBuffers object API's name)
        return type(self.model).Pack(self.model, _VectorReusingBuilder(builder))


class _VectorReusingBuilder:
    def __init__(self, builder):
        self.builder, self.vectors = builder, {}

    def __getattr__(self, name):
        return getattr(self.builder, name)

    def CreateNumpyVector(self, x):  # noqa: N802 (the FlatBuffers builder's name)
        if x.dtype != np.int32:
            return self.builder.CreateNumpyVector(x)
        key = x.tobytes()
        if key not in self.vectors:
            self.vectors[key] = self.builder.CreateNumpyVector(x)
        return self.vectors[key]


class _WrittenOnce:
    """Stands for a table object (`QuantizationParametersT`) when a model
    object is packed: equal tables are packed once and later ones reuse its
    offset (`written`: contents -> offset, shared by the whole model)."""

    def __init__(self, table, written):
        self.table, self.written = table, written

    def Pack(self, builder):  # noqa: N802 (the FlatBuffers object API's name)
        key = tuple(
            (name, np.asarray(value).tobytes() if isinstance(value, (list, np.ndarray))
             else repr(value))
            for name, value in sorted(vars(self.table).items())
        )  # fmt: skip
        if key not in self.written:
            self.written[key] = self.table.Pack(builder)
        return self.written[key]


def tree_bytes(path):
    """Total size in bytes of the files under `path` (e.g. a SavedModel)."""
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


def op_names(flatbuffer):
    """Sorted names of the operators used anywhere in a TFLite model."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=bytes(flatbuffer))
    return sorted({op["op_name"] for op in interpreter._get_ops_details()})


class TFLiteGenerator:
    """Runs a model from `convert_generator` on the LiteRT interpreter:
    token ids in and out, or text in and out through the model's
    preprocessor (the same one training, the `Translator` and the SavedModel
    use).

    Args:
        model: path to a `.tflite` file or its bytes.
        preprocessor: the model's `preprocessing.Seq2SeqPreprocessor` (e.g.
            `Translator.load(DIR).preprocessor`), needed by `translate`.
        depth: for a file with one signature per depth
            (`translator_elastic_*.tflite`), the depth to run (`None`: the
            deepest); a plain file takes `None` only.

    Example:

    >>> translator = Translator.load("saved_models/translate/model")  # doctest: +SKIP
    >>> path = "saved_models/translate/translator_int8.tflite"
    >>> generator = TFLiteGenerator(path, translator.preprocessor)  # doctest: +SKIP
    >>> generator.translate(["$1,284.50"])  # doctest: +SKIP
    """

    def __init__(self, model, preprocessor=None, depth=None):
        from ai_edge_litert.interpreter import Interpreter

        if isinstance(model, (bytes, bytearray)):
            self.interpreter = Interpreter(model_content=bytes(model))
        else:
            self.interpreter = Interpreter(model_path=str(model))
        self.depths = sorted(int(key.split("_")[1]) for key in self.interpreter.get_signature_list()
                             if key.startswith("depth_"))  # fmt: skip
        self._runner = None
        if self.depths:  # an elastic file: one signature per depth
            depth = max(self.depths) if depth is None else depth
            if depth not in self.depths:
                raise ValueError(f"This file runs at depths {self.depths}. "
                                 f"Received: depth={depth!r}")  # fmt: skip
            self._runner = self.interpreter.get_signature_runner(f"depth_{depth}")
            self._input = self._runner.get_input_details()["token_ids"]
        elif depth is not None:
            raise ValueError("Only a translator_elastic_*.tflite runs at a chosen depth. "
                             f"Received: depth={depth!r}")  # fmt: skip
        else:
            self._input = self.interpreter.get_input_details()[0]
            self._output = self.interpreter.get_output_details()[0]
        self.depth = depth
        self.source_length = int(self._input["shape"][1])
        self._batch = None
        if preprocessor is not None and preprocessor.sequence_length > self.source_length:
            raise ValueError(
                "The preprocessor makes longer inputs than the TFLite model takes. Received: "
                f"sequence_length={preprocessor.sequence_length}, "
                f"source_length={self.source_length}"
            )
        self.preprocessor = preprocessor

    def generate(self, token_ids):
        """int ids `[batch, length <= source_length]` -> output ids."""
        token_ids = np.asarray(token_ids, dtype=np.int32)
        batch, length = token_ids.shape
        if length > self.source_length:
            raise ValueError(
                f"Inputs are longer than the model's source length. Received: "
                f"length={length}, source_length={self.source_length}"
            )
        padded = np.zeros((batch, self.source_length), np.int32)
        padded[:, :length] = token_ids
        if self._runner is not None:  # resizes its inputs itself
            return self._runner(token_ids=padded)["output_ids"].copy()
        if batch != self._batch:
            self.interpreter.resize_tensor_input(self._input["index"], [batch, self.source_length])
            self.interpreter.allocate_tensors()
            self._batch = batch
        self.interpreter.set_tensor(self._input["index"], padded)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output["index"]).copy()

    def translate(self, texts):
        """Strings in, strings out (`""` for blank inputs), like the
        SavedModel's `translate` signature."""
        if self.preprocessor is None:
            raise ValueError(
                "`translate` needs the model's preprocessor. Received: preprocessor=None"
            )
        texts = list(texts)
        if not texts:
            return []
        outputs = self.generate(self.preprocessor(texts))
        return [
            "" if not text.strip() else output
            for text, output in zip(texts, self.preprocessor.detokenize(outputs), strict=True)
        ]
