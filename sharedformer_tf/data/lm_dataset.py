"""Packed token windows for language-model training and evaluation."""

import numpy as np
import tensorflow as tf


def token_stream(documents, preprocessor, chunk_size=256):
    """Every document's `[bos_id] + tokens + [eos_id]`, concatenated.

    Args:
        documents: list of strings.
        preprocessor: the model's `preprocessing.CausalLMPreprocessor`.
        chunk_size: documents tokenized together.

    Returns:
        int32 numpy array `[num_tokens]`.
    """
    parts = [np.zeros([0], "int32")]
    for start in range(0, len(documents), chunk_size):
        ids = preprocessor.document_ids(
            preprocessor.tokenize(documents[start : start + chunk_size])
        )
        parts.append(ids.flat_values.numpy().astype("int32"))
    return np.concatenate(parts)


def pack_windows(stream, context, pad_id, keep_last=False):
    """Cuts a token stream into windows of `context + 1` tokens that overlap
    by one (window `i` starts at token `i * context`), so that every token
    after the first is a label exactly once.

    Args:
        stream: int array `[num_tokens]`.
        context: int, tokens the model sees per window.
        pad_id: int, fills the end of the last window.
        keep_last: keep the last, partial window (padded; padding is no
            label): evaluation scores every token. Training drops it.

    Returns:
        int32 array `[num_windows, context + 1]`.

    Example:

    >>> pack_windows(np.arange(1, 11), 4, pad_id=0, keep_last=True)
    array([[ 1,  2,  3,  4,  5],
           [ 5,  6,  7,  8,  9],
           [ 9, 10,  0,  0,  0]], dtype=int32)
    """
    stream = np.asarray(stream, "int32")
    count = (len(stream) - 1) // context
    if keep_last and (len(stream) - 1) % context:
        count += 1
    padded = np.full([count * context + 1], pad_id, "int32")
    padded[: min(len(stream), len(padded))] = stream[: len(padded)]
    index = np.arange(count)[:, None] * context + np.arange(context + 1)[None, :]
    return padded[index]


def make_lm_dataset(windows, batch_size, shuffle=False, seed=0, drop_remainder=False):
    """`(inputs, labels)` batches from `pack_windows` output: `inputs =
    window[:-1]`, `labels = window[1:]` (`pad_id` labels add no loss).

    Args:
        windows: int array `[num_windows, context + 1]`.
        batch_size: int, windows per (global) batch.
        shuffle: reshuffle the windows every epoch (seeded).
        seed: int.
        drop_remainder: drop the last, smaller batch (training).

    Returns:
        A `tf.data.Dataset` of `(int32 [batch, context], int32 [batch,
        context])`.
    """
    windows = np.asarray(windows, "int32")
    dataset = tf.data.Dataset.from_tensor_slices((windows[:, :-1], windows[:, 1:]))
    if shuffle:
        dataset = dataset.shuffle(len(windows), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    # Under a multi-worker strategy every worker builds this pipeline and
    # keeps its own share of every global batch.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)
