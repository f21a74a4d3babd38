import keras
import tensorflow as tf

from sharedformer_tf.preprocessing.text_preprocessor import TextPreprocessor


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class CausalLMPreprocessor(TextPreprocessor):
    """Text -> token ids -> text for a decoder-only language model: a
    `TextPreprocessor` that frames ids as documents and prompts.

    Training data, evaluation, the app's `generate`, the SavedModel and the
    TFLite runner go through this layer, with the special ids of the model
    config (`for_model`):

    - document ids: `[bos_id] + tokens + [eos_id]` (packed into training
      windows by `data.lm_dataset`);
    - prompt ids: `[bos_id] + tokens[-(sequence_length - 1):]`: a prompt too
      long for the context keeps its end, the part next to what follows.

    Args:
        tokenizer: a `keras_hub.tokenizers.SentencePieceTokenizer`.
        sequence_length: int >= 2, the model's context (`config.max_length`).
        pad_id: int, the padding id.
        bos_id: int, the start-of-document id.
        eos_id: int, the end-of-document id.

    Call arguments:
        texts: string tensor or list `[batch]` of prompts.

    Returns:
        int32 tensor `[batch, width]`: prompt ids right-padded with `pad_id`
        to the longest prompt of the batch (at most `sequence_length`).

    Example:

    >>> import keras_hub
    >>> from sharedformer_tf.data.sentencepiece_vocabulary import train_sentencepiece
    >>> proto = train_sentencepiece(["one two three", "four five six"] * 20, 24)
    >>> tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(proto=proto)
    >>> preprocessor = CausalLMPreprocessor(tokenizer, 6, pad_id=0, bos_id=1, eos_id=2)
    >>> preprocessor.tokenize(["one two"]).numpy()
    array([[ 9,  5, 12,  4,  8, 15,  5]], dtype=int32)
    >>> ids = preprocessor(["one two", "four five six"])
    >>> ids.numpy()
    array([[ 1, 12,  4,  8, 15,  5],
           [ 1,  7, 11, 14,  4, 20]], dtype=int32)
    >>> preprocessor.detokenize(ids)  # BOS dropped; both kept their ends
    ['ne two', 'five six']
    """

    def document_ids(self, token_ids):
        """`[bos_id] + tokens + [eos_id]` (ragged) from `tokenize` output."""
        bos, eos = self._column(token_ids, self.bos_id), self._column(token_ids, self.eos_id)
        return tf.concat([bos, token_ids, eos], axis=1)

    def prompt_ids(self, token_ids, max_tokens=None):
        """`[bos_id]` and the last `max_tokens` tokens (default
        `sequence_length - 1`) of each row of `tokenize` output (ragged)."""
        max_tokens = self.sequence_length - 1 if max_tokens is None else max_tokens
        if max_tokens < 0 or max_tokens > self.sequence_length - 1:
            raise ValueError(
                f"`max_tokens` must be in [0, {self.sequence_length - 1}]. "
                f"Received: max_tokens={max_tokens}"
            )
        kept = token_ids[:, -max_tokens:] if max_tokens else token_ids[:, :0]
        return tf.concat([self._column(token_ids, self.bos_id), kept], axis=1)

    def detokenize_continuations(self, token_ids, prompt_lengths):
        """The text each row adds after its prompt, with the space that
        separates it from the prompt (decoding the new ids alone would drop
        it): `detokenize(row)` less `detokenize(row[:prompt_length])`.

        Args:
            token_ids: int `[batch, length]`, prompts followed by new ids.
            prompt_lengths: int `[batch]`, ids of each prompt (BOS included).

        Returns:
            A list of Python strings when run eagerly, a string tensor
            `[batch]` inside a `tf.function`.
        """
        token_ids = tf.convert_to_tensor(token_ids, "int32")
        lengths = tf.cast(tf.convert_to_tensor(prompt_lengths), "int32")
        in_prompt = tf.range(tf.shape(token_ids)[1])[None, :] < lengths[:, None]
        full = self._detokenize(token_ids)
        prompts = self._detokenize(tf.where(in_prompt, token_ids, self.pad_id))
        start = tf.strings.length(prompts)
        return self._strings(tf.strings.substr(full, start, tf.fill(tf.shape(start), -1)))

    def call(self, texts):
        return self.pad(self.prompt_ids(self.tokenize(texts)))
