"""Scoring a language model on held-out text: perplexity and bits per byte."""

import math
import time

import numpy as np
import tensorflow as tf

from sharedformer_tf.data.lm_dataset import pack_windows, token_stream


def token_nll(model, windows, batch_size=32, depth=None):
    """Summed negative log-likelihood (nats) of the labels of `windows` and
    their count (padding labels excluded).

    Args:
        model: a `SharedCausalLM` (ids -> logits).
        windows: int array `[num_windows, context + 1]` (`pack_windows`).
        batch_size: int.
        depth: one of `model.depths` to run the model at (`None`: its
            plan's depth).

    Returns:
        `(total_nll, num_tokens)`: a float and an int.
    """
    pad_id = model.config.pad_id
    model = model if depth is None else model.at_depth(depth)

    @tf.function
    def batch_nll(window):
        logits = tf.cast(model(window[:, :-1], training=False), tf.float32)
        labels = window[:, 1:]
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        mask = tf.cast(tf.not_equal(labels, pad_id), tf.float32)
        return tf.reduce_sum(tf.cast(nll * mask, tf.float64)), tf.reduce_sum(mask)

    total, count = 0.0, 0
    windows = np.asarray(windows, "int32")
    for start in range(0, len(windows), batch_size):
        nll, tokens = batch_nll(tf.constant(windows[start : start + batch_size]))
        total, count = total + float(nll), count + int(tokens)
    return total, count


def evaluate_text(model, preprocessor, documents, batch_size=32, depth=None):
    """Perplexity and bits per byte of `model` on `documents`.

    The documents are packed as in training (`[bos] tokens [eos]`, windows of
    the model's context) and every token after the first is scored once.
    Bits per byte divides the total log-likelihood (in bits) by the UTF-8
    bytes of the documents, so it compares models with different tokenizers.
    `depth` (one of `model.depths`) runs the model at that many depths.

    Returns:
        Dict with `perplexity`, `cross_entropy` (nats per token),
        `bits_per_byte`, `num_tokens`, `num_bytes`, `num_documents` and
        `seconds`.
    """
    if not documents:
        raise ValueError("Nothing to evaluate. Received: 0 documents")
    start = time.perf_counter()
    context = model.config.max_length
    windows = pack_windows(token_stream(documents, preprocessor), context,
                           model.config.pad_id, keep_last=True)  # fmt: skip
    total, count = token_nll(model, windows, batch_size, depth)
    num_bytes = sum(len(d.encode("utf-8")) for d in documents)
    return {
        "perplexity": round(math.exp(total / count), 3),
        "cross_entropy": round(total / count, 5),
        "bits_per_byte": round(total / math.log(2) / num_bytes, 5),
        "num_tokens": count,
        "num_bytes": num_bytes,
        "num_documents": len(documents),
        "seconds": round(time.perf_counter() - start, 2),
    }
