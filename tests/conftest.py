import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption(
        "--run-slow", action="store_true", default=False, help="also run tests marked slow"
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow test: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed_and_policy():
    keras.utils.set_random_seed(1234)
    policy = keras.config.dtype_policy()
    yield
    keras.config.set_dtype_policy(policy)


@pytest.fixture(scope="session")
def builtin_vocabulary():
    """300 builtin en-fr training pairs and a SentencePiece proto (at most 120
    pieces) trained on them."""
    from sharedformer_tf.data import builtin_corpus
    from sharedformer_tf.data.sentencepiece_vocabulary import train_sentencepiece

    pairs = builtin_corpus.generate("en-fr", "train", 300, seed=0)
    return pairs, train_sentencepiece([t for p in pairs for t in p], 120)


@pytest.fixture(scope="session")
def tiny_translator(builtin_vocabulary):
    """An untrained tiny translator with a real tokenizer (for equivalence
    tests, where quality does not matter)."""
    import keras_hub

    from sharedformer_tf import SharingPlan
    from sharedformer_tf.models import Seq2SeqTransformer, seq2seq_config
    from sharedformer_tf.translation import Translator

    keras.utils.set_random_seed(7)
    tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(proto=builtin_vocabulary[1])
    config = seq2seq_config.tiny(
        vocabulary_size=tokenizer.vocabulary_size(),
        hidden_dim=16,
        num_heads=2,
        intermediate_dim=32,
        encoder_plan=SharingPlan(3, 2, strategy="cycle_rev"),
        decoder_plan=SharingPlan(3, strategy="all"),
        max_length=24,
    )
    return Translator(Seq2SeqTransformer(config), tokenizer)
