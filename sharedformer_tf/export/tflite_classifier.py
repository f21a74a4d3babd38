"""Running an exported classifier on the LiteRT interpreter."""

import numpy as np

from sharedformer_tf.validation import check_positive_int


class TFLiteClassifier:
    """Runs a `classifier_<quantization>.tflite` from `export_classifier`,
    or a `classifier_elastic_<quantization>.tflite` at a depth budget and
    a confidence exit threshold.

    Args:
        model: path to the `.tflite` file, or its bytes.
        batch_size: int, inputs are run in batches of at most this size.
        depth: int, the depth budget of an elastic file (the deepest of its
            depths not above it runs last); `None`: its deepest.
        threshold: float in `(0, 1]`, an elastic file's confidence exit: an
            input leaves at the first depth whose highest class probability
            is above it; `None` or `1.0`: never early.

    Example:

    >>> path = "saved_models/classify_images/classifier_int8.tflite"
    >>> classifier = TFLiteClassifier(path)  # doctest: +SKIP
    >>> classifier.predict(images).argmax(-1)  # doctest: +SKIP
    """

    def __init__(self, model, batch_size=256, depth=None, threshold=None):
        from ai_edge_litert.interpreter import Interpreter

        if isinstance(model, (bytes, bytearray)):
            self.interpreter = Interpreter(model_content=bytes(model))
        else:
            self.interpreter = Interpreter(model_path=str(model))
        self.model = model
        self.batch_size = batch_size
        self._runner = None
        signatures = self.interpreter.get_signature_list()
        key = next(iter(signatures), None)
        self.elastic = key is not None and "depth" in signatures[key]["inputs"]
        if self.elastic:
            if depth is not None:
                check_positive_int(depth=depth)
            if threshold is not None and not 0 < threshold <= 1:
                raise ValueError(f"Expected a threshold in (0, 1]. Received: {threshold!r}")
            self._runner = self.interpreter.get_signature_runner(key)
            self._input = self._runner.get_input_details()["inputs"]
            self._output = self._runner.get_output_details()["probabilities"]
            self._budget = {
                "depth": np.int32(np.iinfo(np.int32).max if depth is None else depth),
                "threshold": np.float32(1.0 if threshold is None else threshold),
            }
        elif depth is not None or threshold is not None:
            raise ValueError(
                "Only a classifier_elastic_*.tflite runs at a chosen depth or threshold. "
                f"Received: depth={depth!r}, threshold={threshold!r}"
            )
        else:
            self._input = self.interpreter.get_input_details()[0]
            self._output = self.interpreter.get_output_details()[0]
        self.input_shape = tuple(int(d) for d in self._input["shape"][1:])
        self.input_dtype = np.dtype(self._input["dtype"])
        self._batch = None

    def predict(self, inputs):
        """Inputs `[n, *input_shape]` -> float32 probabilities `[n, classes]`."""
        return self.predict_exits(inputs)[0]

    def predict_exits(self, inputs):
        """Inputs `[n, *input_shape]` -> float32 probabilities `[n,
        classes]` and int32 `[n]`, the depth each input left at (of an
        elastic file; `-1` for a plain file)."""
        inputs = np.asarray(inputs)
        if inputs.shape[1:] != self.input_shape:
            raise ValueError(
                f"Expected inputs [n, {', '.join(map(str, self.input_shape))}]. "
                f"Received: shape {inputs.shape}"
            )
        outputs = [
            self._run(inputs[start : start + self.batch_size].astype(self.input_dtype))
            for start in range(0, len(inputs), self.batch_size)
        ]
        if not outputs:
            return np.zeros((0, self._output["shape"][-1]), "float32"), np.zeros(0, "int32")
        return tuple(np.concatenate(parts) for parts in zip(*outputs, strict=True))

    def _run(self, batch):
        if self._runner is not None:  # resizes its inputs itself
            outputs = self._runner(inputs=batch, **self._budget)
            return outputs["probabilities"].copy(), outputs["depth"].copy()
        if len(batch) != self._batch:
            self.interpreter.resize_tensor_input(self._input["index"], batch.shape)
            self.interpreter.allocate_tensors()
            self._batch = len(batch)
        self.interpreter.set_tensor(self._input["index"], batch)
        self.interpreter.invoke()
        probabilities = self.interpreter.get_tensor(self._output["index"]).copy()
        return probabilities, np.full(len(batch), -1, "int32")
