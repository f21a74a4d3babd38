"""A small untrained language model with a real tokenizer, for tests that
compare decoding paths (equal outputs do not need a trained model)."""

import keras
import keras_hub

from sharedformer_tf.data.sentencepiece_vocabulary import train_sentencepiece
from sharedformer_tf.generation import TextGenerator
from sharedformer_tf.models import SharedCausalLM, causal_lm_config

WORDS = "sun moon star river stone tree bird wind rain fire hill road".split()


def sentences(count, seed=0):
    """Made-up sentences from a dozen words, different for each `seed`."""
    import random

    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) + "."
            for _ in range(count)]  # fmt: skip


def small_generator(context=24, **changes):
    keras.utils.set_random_seed(0)
    proto = train_sentencepiece(sentences(200), 48)
    tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(proto=proto)
    config = causal_lm_config.tiny(vocabulary_size=tokenizer.vocabulary_size(), hidden_dim=32,
                                   num_heads=2, intermediate_dim=64, max_length=context,
                                   **changes)  # fmt: skip
    return TextGenerator(SharedCausalLM(config), tokenizer)
