"""tf.data pipelines that turn sentence pairs into padded, bucketed batches."""

import tensorflow as tf


def length_buckets(max_length, step=8):
    """Bucket boundaries `step, 2*step, ...` up to `max_length` (inclusive).

    Padding each batch to its bucket boundary gives a handful of fixed shapes,
    so XLA compiles once per bucket instead of once per batch.
    """
    return list(range(step, max_length, step)) + [max_length]


def count_truncated_pairs(pairs, preprocessor):
    """How many `(source, target)` pairs have a side longer than the
    `preprocessor.max_tokens` tokens that training keeps.

    Example:

    >>> import keras_hub
    >>> from sharedformer_tf.data.sentencepiece_vocabulary import train_sentencepiece
    >>> from sharedformer_tf.preprocessing import Seq2SeqPreprocessor
    >>> proto = train_sentencepiece(["one two three", "four five"] * 20, 20)
    >>> tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(proto=proto)
    >>> preprocessor = Seq2SeqPreprocessor(tokenizer, 8, pad_id=0, bos_id=1, eos_id=2)
    >>> count_truncated_pairs([("one " * 10, "four"), ("one", "two")], preprocessor)
    1
    """
    truncated = 0
    for start in range(0, len(pairs), 4096):
        chunk = pairs[start : start + 4096]
        lengths = [preprocessor.tokenize([p[side] for p in chunk]).row_lengths().numpy()
                   for side in (0, 1)]  # fmt: skip
        truncated += int(((lengths[0] > preprocessor.max_tokens)
                          | (lengths[1] > preprocessor.max_tokens)).sum())  # fmt: skip
    return truncated


def make_translation_dataset(
    pairs,
    preprocessor,
    batch_size,
    shuffle=False,
    seed=0,
    drop_remainder=False,
    bucket_step=8,
):
    """Builds `((inputs, labels))` batches for `Seq2SeqTransformer.fit`.

    Tokenization runs inside the graph; pairs are batched with pairs of
    similar length and each batch is padded (with the preprocessor's
    `pad_id`) to the boundary of its length bucket (see `length_buckets`).

    Args:
        pairs: list of `(source, target)` strings.
        preprocessor: the model's `preprocessing.Seq2SeqPreprocessor`
            (`Seq2SeqPreprocessor.for_model`): ids, truncation to its
            `sequence_length` and special ids.
        batch_size: int, sentences per batch (the global batch under a
            `tf.distribute` strategy: per-replica batch x replicas).
        shuffle: bool, reshuffle every epoch.
        seed: int, shuffle seed.
        drop_remainder: bool, drop each bucket's last partial batch (fixed
            batch shapes for XLA).
        bucket_step: int, the width of the length buckets, in tokens. The
            preprocessor's `sequence_length` gives one bucket: every batch
            padded to the longest length, in data order (as keras-hub's
            examples train).

    Returns:
        `tf.data.Dataset` of `({"encoder_token_ids", "decoder_token_ids"},
        labels)`, all `int32` `[batch, bucket_length]`.
    """
    if not pairs:
        raise ValueError("No sentence pairs to build a dataset from. Received: 0 pairs")
    if not isinstance(bucket_step, int) or bucket_step < 1:
        raise ValueError(f"`bucket_step` must be a positive int. Received: {bucket_step=}")
    sources = [s for s, _ in pairs]
    targets = [t for _, t in pairs]
    dataset = tf.data.Dataset.from_tensor_slices((sources, targets))
    max_length, pad_id = preprocessor.sequence_length, preprocessor.pad_id
    preprocessor = preprocessor.copy()  # a TF resource of its own (see `copy`)

    def tokenize(source, target):
        encoder_ids = preprocessor.source_ids(preprocessor.tokenize(source))
        return (encoder_ids, *preprocessor.target_ids(preprocessor.tokenize(target)))

    # Tokenize in large batches; unbatching ragged ids gives 1-D elements
    # that the identity map turns into plain tensors for bucketing.
    dataset = dataset.batch(4096).map(tokenize).unbatch().map(lambda *ids: ids).cache()
    boundaries = length_buckets(max_length, bucket_step)
    num_batches = _count_batches(dataset, boundaries, batch_size, drop_remainder)
    if shuffle:
        dataset = dataset.shuffle(min(len(pairs), 50_000), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.bucket_by_sequence_length(
        lambda enc, dec, _: tf.maximum(tf.shape(enc)[0], tf.shape(dec)[0]),
        bucket_boundaries=[b + 1 for b in boundaries[:-1]],
        bucket_batch_sizes=[batch_size] * len(boundaries),
        padded_shapes=([None], [None], [None]),
        padding_values=(pad_id, pad_id, pad_id),
        pad_to_bucket_boundary=False,
        drop_remainder=drop_remainder,
    )

    def pad_to_bucket(encoder_ids, decoder_ids, labels):
        length = tf.maximum(tf.shape(encoder_ids)[1], tf.shape(decoder_ids)[1])
        bucket = tf.gather(boundaries, tf.searchsorted(boundaries, [length])[0])

        def pad(x):
            return tf.pad(x, [[0, 0], [0, bucket - tf.shape(x)[1]]], constant_values=pad_id)

        return {"encoder_token_ids": pad(encoder_ids), "decoder_token_ids": pad(decoder_ids)}, pad(
            labels
        )

    dataset = dataset.map(pad_to_bucket, num_parallel_calls=tf.data.AUTOTUNE)
    # Bucket sizes do not depend on the shuffle order, so the number of
    # batches is known: Keras gets a full progress bar and exact step counts.
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_batches))
    # Under a multi-worker strategy every worker builds this pipeline and keeps
    # its own share of every global batch (there are no files to shard by).
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def _count_batches(dataset, boundaries, batch_size, drop_remainder):
    lengths = dataset.map(lambda enc, dec, _: tf.maximum(tf.shape(enc)[0], tf.shape(dec)[0]))
    buckets = lengths.map(lambda n: tf.searchsorted(boundaries, [n])[0])
    counts = buckets.reduce(
        tf.zeros([len(boundaries)], tf.int64),
        lambda acc, b: acc + tf.one_hot(b, len(boundaries), dtype=tf.int64),
    ).numpy()
    if drop_remainder:
        return int(sum(c // batch_size for c in counts))
    return int(sum(-(-c // batch_size) for c in counts))
