"""Training SentencePiece vocabularies with fixed special-token ids."""

import io
import os

import sentencepiece

# Ids every sharedformer_tf tokenizer uses (they match `Seq2SeqConfig`).
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
# The trainer skips longer sentences (its max_sentence_length is 4192 bytes):
# longer texts (a chapter, a whole book) are cut at spaces into pieces.
MAX_PIECE_CHARS = 1000


def training_pieces(texts, max_chars=MAX_PIECE_CHARS):
    """Yields `texts` cut at spaces into pieces of at most about `max_chars`
    characters (a word longer than that is one piece).

    Example:

    >>> list(training_pieces(["a bb ccc dddd", "e"], max_chars=6))
    ['a bb', 'ccc', 'dddd', 'e']
    """
    for text in texts:
        if len(text) <= max_chars:
            yield text
            continue
        piece = []
        size = 0
        for word in text.split():
            if piece and size + 1 + len(word) > max_chars:
                yield " ".join(piece)
                piece, size = [], 0
            size += len(word) + (1 if piece else 0)
            piece.append(word)
        if piece:
            yield " ".join(piece)


def train_sentencepiece(texts, vocabulary_size, model_type="unigram"):
    """Trains a SentencePiece model on `texts` and returns its serialized proto.

    Uses the `sentencepiece` trainer (keras-hub's
    `compute_sentence_piece_proto` cannot set special ids) with pad=0, bos=1,
    eos=2, unk=3, digits split into single pieces (numbers are copied digit
    by digit) and NFKC normalization. Texts longer than `MAX_PIECE_CHARS`
    are cut at spaces first (the trainer would skip them). `vocabulary_size` is an upper bound: a
    small corpus may give fewer pieces.

    Args:
        texts: iterable of strings (e.g. source and target sentences).
        vocabulary_size: int, at most this many pieces.
        model_type: `"unigram"` or `"bpe"`.

    Returns:
        `bytes`, a SentencePiece model proto for
        `keras_hub.tokenizers.SentencePieceTokenizer(proto=...)`.
    """
    texts = [t for t in training_pieces(texts) if t]
    if not texts:
        raise ValueError("Cannot train a tokenizer on an empty corpus. Received: 0 non-empty texts")
    if not isinstance(vocabulary_size, int) or vocabulary_size < 8:
        raise ValueError(
            "`vocabulary_size` must be an integer >= 8. "
            f"Received: vocabulary_size={vocabulary_size!r}"
        )
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=model,
        vocab_size=vocabulary_size,
        hard_vocab_limit=False,
        model_type=model_type,
        pad_id=PAD_ID,
        bos_id=BOS_ID,
        eos_id=EOS_ID,
        unk_id=UNK_ID,
        split_digits=True,
        character_coverage=1.0,
        normalization_rule_name="nmt_nfkc",
        input_sentence_size=2_000_000,
        shuffle_input_sentence=True,
        num_threads=2,
        minloglevel=2,
    )
    return model.getvalue()


def load_sentencepiece(path):
    """A `keras_hub.tokenizers.SentencePieceTokenizer` from a `.model` file.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: the file is not a SentencePiece model (the message names
            it), e.g. truncated or overwritten.
    """
    import keras_hub
    import tensorflow as tf

    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such tokenizer file")
    with open(path, "rb") as f:
        proto = f.read()
    try:
        return keras_hub.tokenizers.SentencePieceTokenizer(proto=proto)
    except (tf.errors.OpError, ValueError, RuntimeError):
        raise ValueError(f"{path} is not a SentencePiece model (damaged or truncated?); "
                         "train the model again or restore the file") from None  # fmt: skip
