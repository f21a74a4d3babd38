"""SavedModel export of a `Translator`: raw strings in, strings out."""

import tensorflow as tf


class TranslatorModule(tf.Module):
    """A `tf.Module` whose `translate` turns a batch of strings into their
    greedy translations: the translator's `Seq2SeqPreprocessor`
    (SentencePiece through tensorflow-text) and the cached decoding loop
    inside the graph.

    Loading the SavedModel needs only `tensorflow` and `tensorflow_text`
    (imported before `tf.saved_model.load`, to register the tokenizer ops).

    Args:
        translator: a `sharedformer_tf.translation.Translator`.
        max_output_length: int, longest output in tokens (default: the
            model's `max_length - 1`).
    """

    def __init__(self, translator, max_output_length=None):
        super().__init__(name="translator")
        self.model = translator.model
        # Tracked, so its tokenizer resource is saved with the module; a
        # copy, with a resource of its own (see `Seq2SeqPreprocessor.copy`).
        self.preprocessor = translator.preprocessor.copy()
        self.max_output_length = max_output_length or translator.max_length - 1

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def translate(self, texts):
        """`texts` `[batch]` tf.string -> translations `[batch]` tf.string."""
        outputs = self.model.generate_step(self.preprocessor(texts), self.max_output_length)
        texts_out = self.preprocessor.detokenize(outputs)
        blank = tf.equal(tf.strings.length(tf.strings.strip(texts)), 0)
        return tf.where(blank, tf.constant(""), texts_out)


def export_saved_model(translator, path, max_output_length=None):
    """Writes a SavedModel with a `translate` signature (tf.string `[batch]`
    -> tf.string `[batch]`) to `path` and returns `path`."""
    module = TranslatorModule(translator, max_output_length)
    tf.saved_model.save(module, path, signatures={"translate": module.translate})
    return path
