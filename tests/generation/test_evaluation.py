import math

import numpy as np

from sharedformer_tf.data.lm_dataset import pack_windows, token_stream
from sharedformer_tf.generation import evaluate_text
from tests.generation.lm_fixtures import sentences, small_generator


def test_perplexity_and_bits_per_byte_are_the_mean_log_likelihood():
    generator = small_generator(context=16)
    model, preprocessor = generator.model, generator.preprocessor
    documents = sentences(7, seed=3)
    metrics = evaluate_text(model, preprocessor, documents, batch_size=3)

    # By hand: the probability of every token given all tokens before it in
    # its window, the whole stream scored once.
    stream = token_stream(documents, preprocessor)
    windows = pack_windows(stream, 16, 0, keep_last=True)
    logits = np.asarray(model(windows[:, :-1]), "float64")
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    labels = windows[:, 1:]
    picked = np.take_along_axis(log_probs, labels[..., None], -1)[..., 0]
    nll = -picked[labels != 0].sum()
    assert metrics["num_tokens"] == len(stream) - 1 == int((labels != 0).sum())
    assert math.isclose(metrics["perplexity"], math.exp(nll / (len(stream) - 1)), rel_tol=1e-4)
    num_bytes = sum(len(d.encode()) for d in documents)
    assert metrics["num_bytes"] == num_bytes
    assert math.isclose(metrics["bits_per_byte"], nll / math.log(2) / num_bytes, rel_tol=1e-4)
