import keras
import keras_hub
import sentencepiece
import tensorflow as tf

from sharedformer_tf.validation import check_positive_int

SPECIAL_IDS = ("pad_id", "bos_id", "eos_id")


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class TextPreprocessor(keras_hub.models.Preprocessor):
    """Text <-> token ids with a model's special ids: the one place where the
    library turns strings into ids (a keras-hub `Preprocessor` on a
    `SentencePieceTokenizer`).

    The task preprocessors (`Seq2SeqPreprocessor`, `CausalLMPreprocessor`)
    add only how ids are framed with BOS/EOS; tokenizing, padding,
    detokenizing, the special-id checks and the graph-safe `copy` are here.
    The special ids come from the model config (`for_model`) and are checked
    against the tokenizer's own control ids. Runs eagerly, inside `tf.data`
    and inside a `tf.function`.

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
        int32 tensor `[batch, width]`: the token ids without special ids,
        padded with `pad_id` to the longest row (at most `sequence_length`).

    Example:

    >>> import keras_hub
    >>> from sharedformer_tf.data.sentencepiece_vocabulary import train_sentencepiece
    >>> proto = train_sentencepiece(["one two three", "four five six"] * 20, 24)
    >>> tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(proto=proto)
    >>> preprocessor = TextPreprocessor(tokenizer, 16, pad_id=0, bos_id=1, eos_id=2)
    >>> ids = preprocessor(["one two", "four five six"])
    >>> ids.shape
    TensorShape([2, 9])
    >>> preprocessor.detokenize(ids)
    ['one two', 'four five six']
    """

    def __init__(self, tokenizer, sequence_length, pad_id, bos_id, eos_id, **kwargs):
        super().__init__(**kwargs)
        self.built = True  # no weights
        if not isinstance(tokenizer, keras_hub.tokenizers.SentencePieceTokenizer):
            raise TypeError(
                "`tokenizer` must be a keras_hub.tokenizers.SentencePieceTokenizer. "
                f"Received: tokenizer of type {type(tokenizer).__name__}"
            )
        if not isinstance(sequence_length, int) or sequence_length < 2:
            raise ValueError(
                "`sequence_length` must be an integer >= 2 (one id goes to BOS/EOS). "
                f"Received: sequence_length={sequence_length!r}"
            )
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.pad_id = pad_id
        self.bos_id = bos_id
        self.eos_id = eos_id
        if tokenizer.proto is not None:  # None only inside from_config
            self._check_special_ids()

    @classmethod
    def for_model(cls, config, tokenizer):
        """The preprocessor of a model: `sequence_length` is
        `config.max_length` and the special ids are the config's.

        Args:
            config: a model config with `max_length`, `vocabulary_size`,
                `pad_id`, `bos_id` and `eos_id` (e.g. `Seq2SeqConfig`).
            tokenizer: its `keras_hub.tokenizers.SentencePieceTokenizer`.

        Raises:
            ValueError: the tokenizer has more ids than the model, or its
                control ids are not the config's.
        """
        vocabulary = tokenizer.vocabulary_size()
        if vocabulary > config.vocabulary_size:
            raise ValueError(
                "The tokenizer has more ids than the model's vocabulary. Received: "
                f"tokenizer vocabulary={vocabulary}, model "
                f"vocabulary_size={config.vocabulary_size}"
            )
        return cls(tokenizer, config.max_length, **{k: getattr(config, k) for k in SPECIAL_IDS})

    def _check_special_ids(self):
        check_positive_int(vocabulary_size=self.tokenizer.vocabulary_size())
        processor = sentencepiece.SentencePieceProcessor(model_proto=self.tokenizer.proto)
        own = {"pad_id": processor.pad_id(), "bos_id": processor.bos_id(),
               "eos_id": processor.eos_id()}  # fmt: skip
        wrong = [f"{name}={getattr(self, name)!r} (the tokenizer's is {own[name]})"
                 for name in SPECIAL_IDS if getattr(self, name) != own[name]]  # fmt: skip
        if wrong:
            raise ValueError(
                "The special ids must be the tokenizer's control ids. Received: " + ", ".join(wrong)
            )

    def copy(self):
        """A new preprocessor with the same vocabulary and ids and its own
        TensorFlow tokenizer resource.

        Graph users (`tf.data` pipelines, SavedModel modules) take a copy
        when they are built: `tf.random.set_seed` (and so
        `keras.utils.set_random_seed`) clears TensorFlow's eager kernel cache
        and with it every tensorflow-text SentencePiece resource created
        before (tensorflow/text#570), so a preprocessor made before seeding
        fails inside a graph. The copy lives as long as the graph's closure.
        """
        tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(proto=self.tokenizer.proto)
        return type(self)(tokenizer, self.sequence_length, self.pad_id, self.bos_id, self.eos_id)

    def tokenize(self, texts):
        """Untruncated token ids, no special ids: int32 ragged `[batch, None]`."""
        ids = self.tokenizer.tokenize(texts)
        if isinstance(ids, tf.RaggedTensor):
            return tf.cast(ids, "int32")
        # keras-hub's eager path gives Python lists.
        return tf.RaggedTensor.from_row_lengths(
            tf.constant([i for row in ids for i in row], "int32", shape=[sum(map(len, ids))]),
            tf.constant([len(row) for row in ids], "int64", shape=[len(ids)]),
        )

    @staticmethod
    def _column(token_ids, value):
        return tf.fill([token_ids.nrows(), 1], tf.constant(value, token_ids.dtype))

    def pad(self, token_ids):
        """Dense int32 `[batch, longest row]` from ragged ids, with `pad_id`."""
        return token_ids.to_tensor(default_value=self.pad_id)

    def call(self, texts):
        return self.pad(self.tokenize(texts)[:, : self.sequence_length])

    def detokenize(self, token_ids):
        """Strings for output ids `[batch, length]`: each row is cut at its
        first `eos_id` and padding is dropped.

        Returns:
            A list of Python strings when run eagerly, a string tensor
            `[batch]` inside a `tf.function`.
        """
        return self._strings(self._detokenize(token_ids))

    def _detokenize(self, token_ids):
        """`detokenize` as a string tensor, eagerly too."""
        token_ids = tf.convert_to_tensor(token_ids, "int32")
        is_eos = tf.cast(tf.equal(token_ids, self.eos_id), "int32")
        kept = (tf.cumsum(is_eos, axis=1) == 0) & tf.not_equal(token_ids, self.pad_id)
        rows = tf.ragged.boolean_mask(token_ids, kept)
        return tf.convert_to_tensor(self.tokenizer.detokenize(rows), tf.string)

    @staticmethod
    def _strings(texts):
        if tf.executing_eagerly():
            return [t.decode("utf-8") for t in texts.numpy().tolist()]
        return texts

    def get_config(self):
        config = super().get_config()  # keras-hub's: with the tokenizer
        config.update(
            sequence_length=self.sequence_length,
            pad_id=self.pad_id,
            bos_id=self.bos_id,
            eos_id=self.eos_id,
        )
        return config

    @classmethod
    def from_config(cls, config):
        # keras-hub's replaces the tokenizer entry in place: leave the
        # caller's dict as it was.
        return super().from_config(dict(config))
