import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from sharedformer_tf.data.sentencepiece_vocabulary import train_sentencepiece
from sharedformer_tf.models import causal_lm_config
from sharedformer_tf.preprocessing import CausalLMPreprocessor

TEXTS = ["the quick fox jumps", "over the lazy dog", "a bird sings in the tree"] * 20


@pytest.fixture(scope="module")
def preprocessor():
    tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(proto=train_sentencepiece(TEXTS, 60))
    config = causal_lm_config.tiny(vocabulary_size=60, max_length=6)
    return CausalLMPreprocessor.for_model(config, tokenizer)


def test_prompts_keep_their_end_after_bos(preprocessor):
    tokens = preprocessor.tokenize(["over the lazy dog", "a"]).to_list()
    ids = preprocessor(["over the lazy dog", "a"]).numpy()
    assert list(ids[0]) == [1] + tokens[0][-5:]  # sequence_length 6: BOS + last 5
    assert list(ids[1][: len(tokens[1]) + 1]) == [1] + tokens[1]
    assert (ids[1][len(tokens[1]) + 1 :] == 0).all()
    two = preprocessor.prompt_ids(preprocessor.tokenize(["over the lazy dog"]), 2).to_list()
    assert two == [[1] + tokens[0][-2:]]
    assert preprocessor.prompt_ids(preprocessor.tokenize(["a"]), 0).to_list() == [[1]]
    with pytest.raises(ValueError, match="Received: max_tokens=6"):
        preprocessor.prompt_ids(preprocessor.tokenize(["a"]), 6)


def test_documents_are_framed_with_bos_and_eos(preprocessor):
    tokens = preprocessor.tokenize(["the quick fox jumps"]).to_list()[0]
    ids = preprocessor.document_ids(preprocessor.tokenize(["the quick fox jumps"]))
    assert ids.to_list() == [[1, *tokens, 2]]


def test_continuations_keep_their_leading_space_in_graph_and_eagerly(preprocessor):
    prompt = preprocessor.tokenize(["over the"]).to_list()[0]
    added = preprocessor.tokenize(["lazy dog"]).to_list()[0]
    rows = np.array([[1, *prompt, *added, 2, 0], [1, *prompt, *added, 0, 0]], "int32")
    lengths = [len(prompt) + 1, len(prompt) + 1]
    eager = preprocessor.detokenize_continuations(rows, lengths)
    assert eager == [" lazy dog", " lazy dog"]
    assert preprocessor.detokenize(rows[:, : len(prompt) + 1]) == ["over the"] * 2
    graph = tf.function(preprocessor.copy().detokenize_continuations)(rows, lengths)
    assert [t.decode() for t in graph.numpy()] == eager


def test_special_ids_must_be_the_tokenizers(preprocessor):
    config = causal_lm_config.tiny(vocabulary_size=60, max_length=6, eos_id=5)
    with pytest.raises(ValueError, match="eos_id=5"):
        CausalLMPreprocessor.for_model(config, preprocessor.tokenizer)
