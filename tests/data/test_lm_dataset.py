import keras_hub
import numpy as np

from sharedformer_tf.data.lm_dataset import make_lm_dataset, pack_windows, token_stream
from sharedformer_tf.data.sentencepiece_vocabulary import train_sentencepiece
from sharedformer_tf.preprocessing import CausalLMPreprocessor


def test_every_token_after_the_first_is_a_label_once():
    stream = np.arange(1, 24)
    for context in (1, 4, 7, 22, 30):
        windows = pack_windows(stream, context, pad_id=0, keep_last=True)
        labels = windows[:, 1:].reshape(-1)
        assert sorted(labels[labels != 0]) == list(range(2, 24))
        np.testing.assert_array_equal(windows[1:, 0], windows[:-1, -1])  # overlap by one
        dropped = pack_windows(stream, context, pad_id=0)
        assert (dropped != 0).all() and len(dropped) == 22 // context


def test_documents_are_framed_and_batches_shifted():
    proto = train_sentencepiece(["alpha beta gamma", "delta epsilon"] * 20, 30)
    tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(proto=proto)
    preprocessor = CausalLMPreprocessor(tokenizer, 8, pad_id=0, bos_id=1, eos_id=2)
    stream = token_stream(["alpha beta", "delta"], preprocessor)
    first = tokenizer.tokenize(["alpha beta"])[0]
    assert list(stream[: len(first) + 2]) == [1, *first, 2]
    assert stream[len(first) + 2] == 1 and stream[-1] == 2
    windows = pack_windows(np.tile(stream, 10), 8, 0)
    batches = list(make_lm_dataset(windows, 4, shuffle=True, seed=1).as_numpy_iterator())
    inputs = np.concatenate([x for x, _ in batches])
    labels = np.concatenate([y for _, y in batches])
    assert inputs.shape == (len(windows), 8)
    np.testing.assert_array_equal(inputs[:, 1:], labels[:, :-1])
    again = list(make_lm_dataset(windows, 4, shuffle=True, seed=1).as_numpy_iterator())
    np.testing.assert_array_equal(batches[0][0], again[0][0])  # seeded
