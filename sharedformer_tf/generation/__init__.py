"""Text generation with a `SharedCausalLM`: prompts to continuations
(`TextGenerator`), samplers by name, perplexity and bits per byte."""

from sharedformer_tf.generation.evaluation import evaluate_text, token_nll
from sharedformer_tf.generation.text_generator import SAMPLERS, TextGenerator, make_sampler

__all__ = ["SAMPLERS", "TextGenerator", "evaluate_text", "make_sampler", "token_nll"]
