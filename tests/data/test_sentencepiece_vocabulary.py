import keras_hub
import pytest
import sentencepiece

from sharedformer_tf.data.sentencepiece_vocabulary import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    train_sentencepiece,
    training_pieces,
)


@pytest.fixture(scope="module")
def proto(builtin_vocabulary):
    return builtin_vocabulary[1]


def test_special_ids(proto):
    model = sentencepiece.SentencePieceProcessor(model_proto=proto)
    assert (model.pad_id(), model.bos_id(), model.eos_id(), model.unk_id()) == (
        PAD_ID,
        BOS_ID,
        EOS_ID,
        UNK_ID,
    )
    assert model.get_piece_size() <= 120


def test_digits_are_single_pieces_and_text_round_trips(proto):
    tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(proto=proto)
    text = "le mardi 4 mars 2025 à 19:31"
    ids = tokenizer.tokenize([text])[0]
    pieces = [tokenizer.id_to_token(i) for i in ids]
    assert all(len(p.lstrip("▁")) <= 1 for p in pieces if p.lstrip("▁").isdigit())
    assert tokenizer.detokenize([ids])[0] == text


def test_errors():
    with pytest.raises(ValueError, match="empty corpus"):
        train_sentencepiece(["", ""], 100)
    with pytest.raises(ValueError, match="vocabulary_size=4"):
        train_sentencepiece(["a b c"], 4)


def test_long_documents_still_train_a_vocabulary():
    # One 60 KB document: the trainer alone would skip it (over 4192 bytes).
    words = ["river", "stone", "mountain", "valley", "harbor", "lantern"]
    document = " ".join(words[(i * 7) % 6] for i in range(10_000))
    proto = train_sentencepiece([document], 40)
    processor = sentencepiece.SentencePieceProcessor(model_proto=proto)
    assert processor.decode(processor.encode("harbor lantern")) == "harbor lantern"
    assert len(processor.encode("mountain")) <= 2  # learned from the document, not spelled out
    assert all(len(p) <= 1000 for p in training_pieces([document]))
