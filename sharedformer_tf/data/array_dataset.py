"""tf.data pipelines of in-memory `(inputs, labels)` arrays."""

import numpy as np
import tensorflow as tf


def make_array_dataset(inputs, labels, batch_size, shuffle=False, seed=0, drop_remainder=False,
                       transform=None, augment=None):  # fmt: skip
    """Batches `(inputs, labels)` for `model.fit`/`evaluate`.

    Args:
        inputs: array `[n, ...]`, or a tuple of such arrays that `augment`
            turns into one (e.g. waveforms and the noise inside them).
        labels: int array `[n]`.
        batch_size: int, global batch size.
        shuffle: reshuffle every epoch (seeded by `seed`).
        seed: int.
        drop_remainder: drop a last partial batch (fixed shapes for XLA).
        transform: optional function of a batch `(inputs, labels)` returning
            the new pair (e.g. a cast and augmentation), run in parallel.
        augment: optional function `(inputs, seed) -> inputs` of a batch and
            an int64 seed `[2]`: seeds differ per batch and per epoch
            (`tf.data.Dataset.random(seed)`, re-randomized each iteration)
            and are the same for the same `seed`, whatever the threads.

    Returns:
        `tf.data.Dataset` of `(inputs, labels)` batches (labels int32),
        sharded by data under multi-worker strategies.
    """
    parts = tuple(map(np.asarray, inputs)) if isinstance(inputs, tuple) else (np.asarray(inputs),)
    labels = np.asarray(labels, "int32")
    if any(p.ndim < 2 or len(p) != len(labels) for p in parts) or not len(labels):
        raise ValueError(
            "Expected inputs [n, ...] and n labels, n > 0. "
            f"Received: inputs {[p.shape for p in parts]}, labels {labels.shape}"
        )
    if isinstance(inputs, tuple) and augment is None:
        raise ValueError("Tuple inputs need an `augment` that makes one input of them. "
                         "Received: augment=None")  # fmt: skip
    inputs = parts if isinstance(inputs, tuple) else parts[0]
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels))
    if shuffle:
        dataset = dataset.shuffle(len(inputs), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if augment is not None:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip(dataset, seeds).map(
            lambda batch, batch_seed: (augment(batch[0], batch_seed), batch[1]),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    if transform is not None:
        dataset = dataset.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)
