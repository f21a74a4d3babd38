import keras
import tensorflow as tf

from sharedformer_tf.preprocessing.text_preprocessor import TextPreprocessor


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class Seq2SeqPreprocessor(TextPreprocessor):
    """Text -> token ids -> text for a sequence-to-sequence model: a
    `TextPreprocessor` that frames ids for an encoder and a decoder.

    Training data, the `Translator`, the exported SavedModel and the TFLite
    runner all go through this layer, so they agree on truncation and on the
    special ids (from the model config: `for_model`). The ids follow
    keras-hub's `Seq2SeqLMPreprocessor` convention:

    - encoder ids: `tokens[:sequence_length - 1] + [eos_id]`;
    - decoder ids: `[bos_id] + tokens[:sequence_length - 1]`;
    - labels: `tokens[:sequence_length - 1] + [eos_id]`.

    Args:
        tokenizer: a `keras_hub.tokenizers.SentencePieceTokenizer` with a
            vocabulary.
        sequence_length: int >= 2, the longest id sequence of the model
            (`config.max_length`); one position goes to BOS or EOS.
        pad_id: int, the padding id.
        bos_id: int, the start-of-sequence id.
        eos_id: int, the end-of-sequence id.

    Call arguments:
        texts: string tensor or list `[batch]`.

    Returns:
        int32 tensor `[batch, width]`: encoder ids padded with `pad_id` to
        the longest row of the batch (at most `sequence_length`).

    Example:

    >>> import keras_hub
    >>> from sharedformer_tf.data.sentencepiece_vocabulary import train_sentencepiece
    >>> proto = train_sentencepiece(["one two three", "four five six"] * 20, 24)
    >>> tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(proto=proto)
    >>> preprocessor = Seq2SeqPreprocessor(tokenizer, 16, pad_id=0, bos_id=1, eos_id=2)
    >>> preprocessor.tokenize(["one two", "four five six"]).row_lengths().numpy()
    array([7, 9])
    >>> ids = preprocessor(["one two", "four five six"])
    >>> ids.numpy()[:, 6:]
    array([[ 5,  2,  0,  0],
           [14,  4, 20,  2]], dtype=int32)
    >>> preprocessor.detokenize(ids)
    ['one two', 'four five six']
    """

    @property
    def max_tokens(self):
        """Text tokens kept per sequence (`sequence_length - 1`)."""
        return self.sequence_length - 1

    def source_ids(self, token_ids):
        """Encoder ids (ragged) from `tokenize` output: truncated, then EOS."""
        token_ids = token_ids[:, : self.max_tokens]
        return tf.concat([token_ids, self._column(token_ids, self.eos_id)], axis=1)

    def target_ids(self, token_ids):
        """`(decoder_ids, labels)` (ragged) from `tokenize` output."""
        token_ids = token_ids[:, : self.max_tokens]
        decoder_ids = tf.concat([self._column(token_ids, self.bos_id), token_ids], axis=1)
        labels = tf.concat([token_ids, self._column(token_ids, self.eos_id)], axis=1)
        return decoder_ids, labels

    def call(self, texts):
        return self.pad(self.source_ids(self.tokenize(texts)))
