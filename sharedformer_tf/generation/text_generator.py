import logging

import keras_hub
import numpy as np
import tensorflow as tf

from sharedformer_tf.models.greedy_sampler import GreedySampler
from sharedformer_tf.models.shared_causal_lm import SharedCausalLM
from sharedformer_tf.preprocessing import CausalLMPreprocessor
from sharedformer_tf.training.model_directory import load_token_model, save_token_model

SAMPLERS = ("greedy", "top_k", "top_p", "random")

logger = logging.getLogger("sharedformer_tf")


def make_sampler(name="greedy", temperature=1.0, k=40, p=0.9, seed=None):
    """A keras-hub sampler by name (`SAMPLERS`); `"greedy"` is the
    TFLite-friendly `models.GreedySampler`.

    Args:
        name: `"greedy"`, `"top_k"`, `"top_p"` or `"random"`.
        temperature: float > 0, divides the logits (not for greedy).
        k: int, candidates of `top_k`.
        p: float in (0, 1], probability mass of `top_p`.
        seed: int or `None`; the same seed gives the same samples.
    """
    if name not in SAMPLERS:
        raise ValueError(f"Unknown sampler; expected one of {SAMPLERS}. Received: {name!r}")
    if not temperature > 0:
        raise ValueError(f"`temperature` must be > 0. Received: temperature={temperature}")
    if name == "greedy":
        return GreedySampler()
    if name == "top_k":
        return keras_hub.samplers.TopKSampler(k=k, seed=seed, temperature=temperature)
    if name == "top_p":
        return keras_hub.samplers.TopPSampler(p=p, seed=seed, temperature=temperature)
    return keras_hub.samplers.RandomSampler(seed=seed, temperature=temperature)


class TextGenerator:
    """A trained `SharedCausalLM` with its SentencePiece tokenizer: prompts in,
    continuations out.

    Prompts go through the model's `CausalLMPreprocessor` (`[bos] + tokens`);
    a prompt that leaves no room for `max_new_tokens` in the model's context
    keeps its end, with a warning. `generate` decodes batches with the KV
    cache in a graph; `stream` yields the text of one prompt piece by piece
    as each token is chosen (same tokens as `generate` for a greedy or
    seeded sampler).

    Args:
        model: a `SharedCausalLM`.
        tokenizer: a `keras_hub.tokenizers.SentencePieceTokenizer` whose
            control ids are `model.config`'s `pad_id`, `bos_id`, `eos_id`.
        depth: one of `model.depths` to run the model at (`None`: its plan's
            depth); see `at_depth`.
        exit_threshold: float or `None`: per-token early exit
            (`SharedCausalLM.exit_logits`) in `generate` and `stream`.

    Example:

    >>> generator = TextGenerator.load("saved_models/generate_text/model")  # doctest: +SKIP
    >>> generator.generate(["In the beginning"], max_new_tokens=8)  # doctest: +SKIP
    [', God created the heavens and the earth.']
    """

    def __init__(self, model, tokenizer, depth=None, exit_threshold=None):
        if not isinstance(model, SharedCausalLM):
            raise TypeError(
                f"Expected a SharedCausalLM. Received: model of type {type(model).__name__}"
            )
        model.check_run(depth, exit_threshold)
        self.model = model
        self.depth = depth
        self.exit_threshold = exit_threshold
        self.preprocessor = CausalLMPreprocessor.for_model(model.config, tokenizer)
        self._step_functions = None

    def at_depth(self, depth):
        """This generator running its model at `depth` depths (one the model
        was trained for, or fewer: `SharedCausalLM.with_depths`)."""
        return TextGenerator(self.model.with_depths((depth,)), self.tokenizer, depth,
                             self.exit_threshold)  # fmt: skip

    def with_exit(self, exit_threshold):
        """This generator with per-token early exit at `exit_threshold`."""
        return TextGenerator(self.model, self.tokenizer, self.depth, exit_threshold)

    @property
    def tokenizer(self):
        """The SentencePiece tokenizer (the preprocessor's)."""
        return self.preprocessor.tokenizer

    @property
    def context(self):
        """Longest id sequence, prompt and continuation (`config.max_length`)."""
        return self.model.config.max_length

    @classmethod
    def load(cls, directory):
        """Loads `model.keras` and `tokenizer.model` from `directory`."""
        command = "python apps/generate_text.py train --out DIR"
        return cls(*load_token_model(directory, "text generator", command))

    def save(self, directory):
        """Writes `model.keras` and `tokenizer.model` into `directory`, each
        through a temporary file."""
        save_token_model(directory, self.model, self.tokenizer)

    def _check_budget(self, max_new_tokens):
        if not isinstance(max_new_tokens, int) or not 1 <= max_new_tokens < self.context:
            raise ValueError(
                f"`max_new_tokens` must be an integer in [1, {self.context - 1}] (the context "
                f"is {self.context} tokens with BOS). Received: max_new_tokens={max_new_tokens!r}"
            )

    def encode_prompts(self, texts, max_new_tokens):
        """Prompt ids `[batch, width]` (int32, right-padded): `[bos]` and at
        most `context - 1 - max_new_tokens` tokens, the end of a longer
        prompt (with a warning)."""
        self._check_budget(max_new_tokens)
        room = self.context - 1 - max_new_tokens
        ids = self.preprocessor.tokenize(list(texts))
        overlong = int((ids.row_lengths() > room).numpy().sum())
        if overlong:
            logger.warning("%d of %d prompts are longer than %d tokens (the context of %d "
                           "less %d new tokens and BOS); their beginning was cut off.",
                           overlong, int(ids.nrows()), room, self.context,
                           max_new_tokens)  # fmt: skip
        return self.preprocessor.pad(self.preprocessor.prompt_ids(ids, room)).numpy()

    def generate(self, texts, max_new_tokens=64, sampler="greedy"):
        """Continues each prompt.

        Args:
            texts: list of prompt strings (an empty prompt starts from BOS).
            max_new_tokens: int, tokens generated after each prompt at most
                (fewer if EOS comes first).
            sampler: a name of `SAMPLERS` or a `keras_hub.samplers.Sampler`
                (`make_sampler`).

        Returns:
            List of continuation strings (without their prompts).
        """
        texts = [t if isinstance(t, str) else t.decode("utf-8") for t in texts]
        if not texts:
            return []
        ids = self.encode_prompts(texts, max_new_tokens)
        lengths = (ids != self.model.config.pad_id).sum(axis=1)
        sampler = make_sampler(sampler) if isinstance(sampler, str) else sampler
        outputs = np.array(self.model.generate(ids, ids.shape[1] + max_new_tokens, sampler,
                                               depth=self.depth,
                                               exit_threshold=self.exit_threshold))  # fmt: skip
        # A shorter prompt of the batch got more tokens: keep max_new_tokens.
        beyond = np.arange(outputs.shape[1])[None, :] >= (lengths + max_new_tokens)[:, None]
        outputs[beyond] = self.model.config.pad_id
        return self.preprocessor.detokenize_continuations(outputs, lengths)

    def _steps(self):
        if self._step_functions is None:
            model = self.model
            cache = model.init_cache(1, 1)
            cache_spec = tf.TensorSpec([1, *cache.shape[1:3], None, *cache.shape[4:]], cache.dtype)
            signature = [tf.TensorSpec([1, None], tf.int32), cache_spec,
                         tf.TensorSpec([], tf.int32)]  # fmt: skip

            @tf.function(input_signature=signature, reduce_retracing=True)
            def step(token_ids, cache, index):
                logits, _, cache = model.call_with_cache(token_ids, cache, index, self.depth,
                                                         self.exit_threshold)  # fmt: skip
                return logits[:, -1, :], cache

            self._step_functions = step
        return self._step_functions

    def stream(self, text, max_new_tokens=64, sampler="greedy"):
        """Yields the continuation of one prompt piece by piece, as each token
        is chosen (a piece may be empty while a multi-token character is
        incomplete). Stops at EOS or after `max_new_tokens` tokens."""
        sampler = make_sampler(sampler) if isinstance(sampler, str) else sampler
        prompt = self.encode_prompts([text], max_new_tokens)
        cache = self.model.init_cache(1, prompt.shape[1] + max_new_tokens)
        step = self._steps()
        logits, cache = step(tf.constant(prompt), cache, tf.constant(0))
        index, ids, shown = prompt.shape[1], list(prompt[0]), ""
        for _ in range(max_new_tokens):
            token = int(sampler.get_next_token(sampler.compute_probabilities(logits))[0])
            if token == self.model.config.eos_id:
                break
            ids.append(token)
            text = self.preprocessor.detokenize_continuations([ids], [prompt.shape[1]])[0]
            yield text[len(shown) :]
            shown = text
            if len(ids) == prompt.shape[1] + max_new_tokens:
                break
            logits, cache = step(tf.constant([[token]], tf.int32), cache, tf.constant(index))
            index += 1
