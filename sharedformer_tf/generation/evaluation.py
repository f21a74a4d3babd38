"""Scoring a language model on held-out text: perplexity and bits per byte."""

import math
import time

import numpy as np
import tensorflow as tf

from sharedformer_tf.data.lm_dataset import pack_windows, token_stream


def token_nll(model, windows, batch_size=32, depth=None, exit_threshold=None):
    """Summed negative log-likelihood (nats) of the labels of `windows`,
    their count (padding labels excluded) and the mean depth their
    predictions ran.

    Args:
        model: a `SharedCausalLM` (ids -> logits).
        windows: int array `[num_windows, context + 1]` (`pack_windows`).
        batch_size: int.
        depth: one of `model.depths` to run the model at (`None`: its
            plan's depth).
        exit_threshold: float or `None`: per-token early exit
            (`SharedCausalLM.exit_logits`, what cached decoding with the
            same threshold computes).

    Returns:
        `(total_nll, num_tokens, mean_depth)`: a float, an int and a float
        (`None` for a model that is not a `SharedCausalLM`).
    """
    pad_id = model.config.pad_id
    if exit_threshold is None:
        run = model if depth is None else model.at_depth(depth)
    else:

        def run(ids, training):
            return model.exit_logits(ids, exit_threshold, depth)

    @tf.function
    def batch_nll(window):
        outputs = run(window[:, :-1], training=False)
        logits, used = outputs if exit_threshold is not None else (outputs, None)
        labels = window[:, 1:]
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=tf.cast(logits, tf.float32)
        )
        mask = tf.cast(tf.not_equal(labels, pad_id), tf.float32)
        used = 0.0 if used is None else tf.reduce_sum(tf.cast(used, tf.float32) * mask)
        return tf.reduce_sum(tf.cast(nll * mask, tf.float64)), tf.reduce_sum(mask), used

    total, count, depths = 0.0, 0, 0.0
    windows = np.asarray(windows, "int32")
    for start in range(0, len(windows), batch_size):
        nll, tokens, used = batch_nll(tf.constant(windows[start : start + batch_size]))
        total, count, depths = total + float(nll), count + int(tokens), depths + float(used)
    if exit_threshold is None:  # every prediction ran the whole depth
        plan_depth = getattr(getattr(model, "decoder", None), "num_layers", None)
        return total, count, depth or plan_depth
    return total, count, depths / max(count, 1)


def evaluate_text(model, preprocessor, documents, batch_size=32, depth=None,
                  exit_threshold=None):  # fmt: skip
    """Perplexity and bits per byte of `model` on `documents`.

    The documents are packed as in training (`[bos] tokens [eos]`, windows of
    the model's context) and every token after the first is scored once.
    Bits per byte divides the total log-likelihood (in bits) by the UTF-8
    bytes of the documents, so it compares models with different tokenizers.
    `depth` (one of `model.depths`) runs the model at that many depths;
    `exit_threshold` lets each token leave early (`token_nll`).

    Returns:
        Dict with `perplexity`, `cross_entropy` (nats per token),
        `bits_per_byte`, `num_tokens`, `num_bytes`, `num_documents`,
        `mean_depth` (the depths a prediction ran, on average) and
        `seconds`.
    """
    if not documents:
        raise ValueError("Nothing to evaluate. Received: 0 documents")
    start = time.perf_counter()
    context = model.config.max_length
    windows = pack_windows(token_stream(documents, preprocessor), context,
                           model.config.pad_id, keep_last=True)  # fmt: skip
    total, count, mean_depth = token_nll(model, windows, batch_size, depth, exit_threshold)
    num_bytes = sum(len(d.encode("utf-8")) for d in documents)
    return {
        "perplexity": round(math.exp(total / count), 3),
        "cross_entropy": round(total / count, 5),
        "bits_per_byte": round(total / math.log(2) / num_bytes, 5),
        "num_tokens": count,
        "num_bytes": num_bytes,
        "num_documents": len(documents),
        "mean_depth": round(mean_depth, 4) if mean_depth is not None else None,
        "seconds": round(time.perf_counter() - start, 2),
    }
