"""Text -> ids in one place: the preprocessor of every sequence model."""

from sharedformer_tf.preprocessing.seq2seq_preprocessor import Seq2SeqPreprocessor

__all__ = ["Seq2SeqPreprocessor"]
