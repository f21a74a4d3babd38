"""Text -> ids in one place: `TextPreprocessor` and the framing of each task
(`Seq2SeqPreprocessor`, `CausalLMPreprocessor`)."""

from sharedformer_tf.preprocessing.causal_lm_preprocessor import CausalLMPreprocessor
from sharedformer_tf.preprocessing.seq2seq_preprocessor import Seq2SeqPreprocessor
from sharedformer_tf.preprocessing.text_preprocessor import TextPreprocessor

__all__ = ["CausalLMPreprocessor", "Seq2SeqPreprocessor", "TextPreprocessor"]
