"""Running an exported classifier on the LiteRT interpreter."""

import numpy as np


class TFLiteClassifier:
    """Runs a `classifier_<quantization>.tflite` from `export_classifier`,
    or one depth of a `classifier_depths_<quantization>.tflite`.

    Args:
        model: path to the `.tflite` file, or its bytes.
        batch_size: int, inputs are run in batches of at most this size.
        signature: signature key such as `"depth_4"` (a multi-depth file)
            or `None`: the file's only graph.

    Example:

    >>> path = "saved_models/classify_images/classifier_int8.tflite"
    >>> classifier = TFLiteClassifier(path)  # doctest: +SKIP
    >>> classifier.predict(images).argmax(-1)  # doctest: +SKIP
    """

    def __init__(self, model, batch_size=256, signature=None):
        from ai_edge_litert.interpreter import Interpreter

        if isinstance(model, (bytes, bytearray)):
            self.interpreter = Interpreter(model_content=bytes(model))
        else:
            self.interpreter = Interpreter(model_path=str(model))
        self.model = model
        self.batch_size = batch_size
        self._runner = None
        if signature is not None:
            keys = sorted(self.interpreter.get_signature_list())
            if signature not in keys:
                raise ValueError(f"The model's signatures are {keys}. "
                                 f"Received: signature={signature!r}")  # fmt: skip
            self._runner = self.interpreter.get_signature_runner(signature)
            self._input = self._runner.get_input_details()["inputs"]
            self._output = self._runner.get_output_details()["probabilities"]
        else:
            self._input = self.interpreter.get_input_details()[0]
            self._output = self.interpreter.get_output_details()[0]
        self.input_shape = tuple(int(d) for d in self._input["shape"][1:])
        self.input_dtype = np.dtype(self._input["dtype"])
        self._batch = None

    def predict(self, inputs):
        """Inputs `[n, *input_shape]` -> float32 probabilities `[n, classes]`."""
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
        return np.concatenate(outputs) if outputs else np.zeros((0, self._output["shape"][-1]))

    def _run(self, batch):
        if self._runner is not None:  # resizes its inputs itself
            return self._runner(inputs=batch)["probabilities"].copy()
        if len(batch) != self._batch:
            self.interpreter.resize_tensor_input(self._input["index"], batch.shape)
            self.interpreter.allocate_tensors()
            self._batch = len(batch)
        self.interpreter.set_tensor(self._input["index"], batch)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output["index"]).copy()
