import logging

import keras_hub
import numpy as np

from sharedformer_tf.models.seq2seq_transformer import Seq2SeqTransformer
from sharedformer_tf.preprocessing import Seq2SeqPreprocessor
from sharedformer_tf.training.model_directory import load_token_model, save_token_model

logger = logging.getLogger("sharedformer_tf")

# Source widths are padded to a multiple of this under XLA (few compiled shapes).
WIDTH_BUCKET = 16


class Translator:
    """A trained `Seq2SeqTransformer` with its SentencePiece tokenizer.

    Turns raw strings into token ids with the model's
    `Seq2SeqPreprocessor` (truncating overlong input with a warning),
    decodes with the KV cache (greedy or beam search) and turns ids back
    into text. Empty input gives empty output without running the model.

    Args:
        model: a `Seq2SeqTransformer`.
        tokenizer: a `keras_hub.tokenizers.SentencePieceTokenizer` whose
            control ids are `model.config`'s `pad_id`, `bos_id`, `eos_id`.
        depth: one of `model.depths` to run the model at (`None`: its
            plans' depth); see `at_depth`.
        exit_threshold: float or `None`: per-token early exit in the
            decoder (`Seq2SeqTransformer.exit_logits`).

    Example:

    >>> translator = Translator.load("saved_models/translate/model")  # doctest: +SKIP
    >>> translator.translate(["Tuesday, March 4, 2025"])  # doctest: +SKIP
    ['mardi 4 mars 2025']
    """

    def __init__(self, model, tokenizer, depth=None, exit_threshold=None):
        if not isinstance(model, Seq2SeqTransformer):
            raise TypeError(
                f"Expected a Seq2SeqTransformer. Received: model of type {type(model).__name__}"
            )
        model.check_run(depth, exit_threshold)
        self.model = model
        self.depth = depth
        self.exit_threshold = exit_threshold
        self.preprocessor = Seq2SeqPreprocessor.for_model(model.config, tokenizer)
        self._samplers = {}

    def at_depth(self, depth):
        """This translator running its model at `depth` encoder and decoder
        depths (one the model was trained for, or fewer:
        `Seq2SeqTransformer.with_depths`)."""
        return Translator(self.model.with_depths((depth,)), self.tokenizer, depth,
                          self.exit_threshold)  # fmt: skip

    def with_exit(self, exit_threshold):
        """This translator with per-token early exit at `exit_threshold`."""
        return Translator(self.model, self.tokenizer, self.depth, exit_threshold)

    @property
    def tokenizer(self):
        """The SentencePiece tokenizer (the preprocessor's)."""
        return self.preprocessor.tokenizer

    @property
    def max_length(self):
        """Longest id sequence, source or output (from the model config)."""
        return self.model.config.max_length

    @classmethod
    def load(cls, directory):
        """Loads `model.keras` and `tokenizer.model` from `directory`."""
        command = "python apps/translate.py train --out DIR"
        return cls(*load_token_model(directory, "translator", command))

    def save(self, directory):
        """Writes `model.keras` and `tokenizer.model` into `directory`, each
        through a temporary file so an interruption never leaves a torn file."""
        save_token_model(directory, self.model, self.tokenizer)

    def encode(self, texts):
        """Encoder ids `[batch, width]` (int32, padded) for `texts`, each
        `tokens + EOS`, truncated to `max_length` with a warning."""
        ids = self.preprocessor.tokenize(list(texts))
        overlong = int((ids.row_lengths() > self.preprocessor.max_tokens).numpy().sum())
        if overlong:
            logger.warning(
                "%d of %d inputs are longer than %d tokens and were truncated.",
                overlong,
                int(ids.nrows()),
                self.preprocessor.max_tokens,
            )
        return self.preprocessor.pad(self.preprocessor.source_ids(ids)).numpy()

    def decode(self, token_ids):
        """Strings for output ids `[batch, length]`, cut at the first EOS."""
        return self.preprocessor.detokenize(np.asarray(token_ids))

    def _sampler(self, beam):
        if not isinstance(beam, int) or beam < 1:
            raise ValueError(f"`beam` must be an integer >= 1. Received: beam={beam!r}")
        if beam == 1:
            return "greedy"
        if beam not in self._samplers:
            self._samplers[beam] = keras_hub.samplers.BeamSampler(num_beams=beam)
        return self._samplers[beam]

    def generate_ids(self, token_ids, beam=1, max_output_length=None, jit_compile=False):
        """Output ids `[batch, max_output_length]` for encoded sources."""
        max_output_length = max_output_length or self.max_length - 1
        return np.asarray(
            self.model.generate(
                token_ids, max_length=max_output_length, sampler=self._sampler(beam),
                jit_compile=jit_compile, depth=self.depth, exit_threshold=self.exit_threshold,
            )
        )  # fmt: skip

    def exit_depths(self, token_ids, output_ids):
        """The decoder depth that chose each output token: the
        teacher-forced pass with this translator's depth and exit rule
        (what cached decoding computed, `Seq2SeqTransformer.exit_logits`).

        Args:
            token_ids: encoded sources `[batch, width]`.
            output_ids: their outputs `[batch, length]` (`generate_ids`).

        Returns:
            int32 array `[batch, length]`, 0 after each output's EOS.
        """
        config = self.model.config
        output_ids = np.asarray(output_ids)
        bos = np.full((output_ids.shape[0], 1), config.bos_id, output_ids.dtype)
        inputs = {
            "encoder_token_ids": token_ids,
            "decoder_token_ids": np.concatenate([bos, output_ids[:, :-1]], axis=1),
        }
        if self.exit_threshold is None:
            depths = np.full(output_ids.shape, self.depth or self.model.decoder.num_layers)
        else:
            depths = np.asarray(self.model.exit_logits(inputs, self.exit_threshold, self.depth)[1])
        return np.where(output_ids == config.pad_id, 0, depths).astype("int32")

    def bucket(self, token_ids, batch_size):
        """Pads encoded sources `[n, width]` (`n <= batch_size`) to `n`
        rounded up to a power of two (at most `batch_size`) rows and `width`
        rounded up to a multiple of `WIDTH_BUCKET` (at most the model's
        `max_length`) columns: extra columns `pad_id`, extra rows a bare
        EOS. Under XLA every batch then has one of a few shapes, and one
        sentence is not decoded as a full batch."""
        rows, width = token_ids.shape
        if rows > batch_size:
            raise ValueError(f"{rows} sources do not fit a batch of {batch_size}")
        width = min(-(-width // WIDTH_BUCKET) * WIDTH_BUCKET, max(width, self.max_length))
        config = self.model.config
        padded_rows = min(batch_size, 1 << (rows - 1).bit_length())
        padded = np.full((padded_rows, width), config.pad_id, dtype=token_ids.dtype)
        padded[:rows, : token_ids.shape[1]] = token_ids
        padded[rows:, 0] = config.eos_id
        return padded

    def translate(self, texts, beam=1, batch_size=64, max_output_length=None, jit_compile=False,
                  return_depths=False):  # fmt: skip
        """Translates a list of strings.

        Args:
            texts: list of source strings.
            beam: int, 1 for greedy decoding, `K > 1` for beam search.
            batch_size: int, sentences decoded together.
            max_output_length: int, longest output in tokens (default
                `max_length - 1`).
            jit_compile: bool. Decode with XLA; batch and source shapes are
                rounded up (`bucket`), so the loop compiles a few times, not
                once per batch.
            return_depths: bool. Also return, per text, the decoder depth
                that chose each of its output tokens (`exit_depths`).

        Returns:
            List of strings, `""` for empty or blank inputs; with
            `return_depths`, `(strings, depths)`, `depths` a list of int
            arrays (empty for empty inputs).
        """
        texts = [t if isinstance(t, str) else t.decode("utf-8") for t in texts]
        results = [""] * len(texts)
        depths = [np.zeros(0, "int32") for _ in texts]
        todo = [i for i, t in enumerate(texts) if t.strip()]
        # Sort by length so batches hold similar lengths.
        todo.sort(key=lambda i: len(texts[i]))
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            ids = self.encode([texts[i] for i in chunk])
            if jit_compile:
                ids = self.bucket(ids, batch_size)
            output_ids = self.generate_ids(ids, beam, max_output_length, jit_compile)
            outputs = self.decode(output_ids)
            for i, text in zip(chunk, outputs[: len(chunk)], strict=True):
                results[i] = text
            if return_depths:
                used = self.exit_depths(ids, output_ids)
                for row, i in enumerate(chunk):
                    depths[i] = used[row][used[row] > 0]
        return (results, depths) if return_depths else results
