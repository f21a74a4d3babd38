"""SavedModel export of a `Translator`: raw strings in, strings out."""

import tensorflow as tf
import tensorflow_text as tf_text

from sharedformer_tf.data.sentencepiece_vocabulary import EOS_ID, PAD_ID


class TranslatorModule(tf.Module):
    """A `tf.Module` whose `translate` turns a batch of strings into their
    greedy translations, with SentencePiece (tensorflow-text) tokenization and
    the cached decoding loop inside the graph.

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
        # tensorflow-text's tokenizer, created eagerly so its resource is
        # tracked and saved with the module.
        self.tokenizer = tf_text.SentencepieceTokenizer(
            model=translator.tokenizer.proto, out_type=tf.int32
        )
        self.max_length = translator.max_length
        self.max_output_length = max_output_length or translator.max_length - 1

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def translate(self, texts):
        """`texts` `[batch]` tf.string -> translations `[batch]` tf.string."""
        ids = self.tokenizer.tokenize(texts)[:, : self.max_length - 1]
        eos = tf.fill([ids.nrows(), 1], tf.constant(EOS_ID, ids.dtype))
        ids = tf.concat([ids, eos], axis=1).to_tensor(default_value=PAD_ID)
        outputs = self.model.generate_step(ids, self.max_output_length)
        # generate_step pads after EOS; pad and EOS are control pieces that
        # SentencePiece decodes to nothing.
        texts_out = self.tokenizer.detokenize(outputs)
        blank = tf.equal(tf.strings.length(tf.strings.strip(texts)), 0)
        return tf.where(blank, tf.constant(""), texts_out)


def export_saved_model(translator, path, max_output_length=None):
    """Writes a SavedModel with a `translate` signature (tf.string `[batch]`
    -> tf.string `[batch]`) to `path` and returns `path`."""
    module = TranslatorModule(translator, max_output_length)
    tf.saved_model.save(module, path, signatures={"translate": module.translate})
    return path
