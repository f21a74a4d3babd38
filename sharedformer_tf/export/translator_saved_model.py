"""SavedModel export of a `Translator`: raw strings in, strings out."""

import tensorflow as tf


class TranslatorModule(tf.Module):
    """A `tf.Module` whose `translate` turns a batch of strings into their
    greedy translations: the translator's `Seq2SeqPreprocessor`
    (SentencePiece through tensorflow-text) and the cached decoding loop
    inside the graph.

    Loading the SavedModel needs only `tensorflow` and `tensorflow_text`
    (imported before `tf.saved_model.load`, to register the tokenizer ops).

    A model trained at several depths (`model.depths`) also translates at
    any of them: `translate(texts, depth)` with an int32 scalar `depth`
    (the `translate_at_depth` signature); `translate(texts)` runs the
    translator's own depth. Decoding runs every depth (no early exit).

    Args:
        translator: a `sharedformer_tf.translation.Translator`.
        max_output_length: int, longest output in tokens (default: the
            model's `max_length - 1`).
    """

    def __init__(self, translator, max_output_length=None):
        super().__init__(name="translator")
        self.model = translator.model
        self.depth = translator.depth
        # Tracked, so its tokenizer resource is saved with the module; a
        # copy, with a resource of its own (see `Seq2SeqPreprocessor.copy`).
        self.preprocessor = translator.preprocessor.copy()
        self.max_output_length = max_output_length or translator.max_length - 1

    def _strings(self, texts, outputs):
        texts_out = self.preprocessor.detokenize(outputs)
        blank = tf.equal(tf.strings.length(tf.strings.strip(texts)), 0)
        return tf.where(blank, tf.constant(""), texts_out)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def translate_texts(self, texts):
        """`texts` `[batch]` tf.string -> translations `[batch]` tf.string."""
        ids = self.preprocessor(texts)
        return self._strings(texts, self.model.generate_step(ids, self.max_output_length,
                                                             depth=self.depth))  # fmt: skip

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts"),
                                  tf.TensorSpec([], tf.int32, name="depth")])  # fmt: skip
    def translate_at_depth(self, texts, depth):
        """`texts` `[batch]` tf.string at `depth` (one of the model's
        depths; another fails with InvalidArgument) -> translations."""
        depths = tf.constant(self.model.depths, tf.int32)
        tf.debugging.assert_equal(
            tf.reduce_any(tf.equal(depths, depth)),
            True,
            message=f"depth must be one of {list(self.model.depths)}",
        )
        ids = self.preprocessor(texts)
        branches = [lambda d=d: self.model.generate_step(ids, self.max_output_length, depth=d)
                    for d in self.model.depths]  # fmt: skip
        index = tf.argmax(tf.cast(tf.equal(depths, depth), tf.int32), output_type=tf.int32)
        return self._strings(texts, tf.switch_case(index, branches))

    @property
    def elastic(self):
        return len(self.model.depths) > 1


def export_saved_model(translator, path, max_output_length=None):
    """Writes a SavedModel with a `translate` signature (tf.string `[batch]`
    -> tf.string `[batch]`) to `path` and returns `path`; a model trained at
    several depths adds `translate_at_depth` (texts and an int32 `depth`),
    and the loaded `translate` takes the depth as an optional second
    input."""
    module = TranslatorModule(translator, max_output_length)
    signatures = {"translate": module.translate_texts}
    if module.elastic:
        signatures["translate_at_depth"] = module.translate_at_depth

        @tf.function
        def translate(texts, depth=None):
            if depth is None:
                return module.translate_texts(texts)
            return module.translate_at_depth(texts, depth)

        translate.get_concrete_function(*module.translate_texts.input_signature)
        translate.get_concrete_function(*module.translate_at_depth.input_signature)
        module.translate = translate
    else:
        module.translate = module.translate_texts
    tf.saved_model.save(module, path, signatures=signatures)
    return path
