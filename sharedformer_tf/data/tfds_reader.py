"""Reading a TensorFlow Datasets set that the user has already prepared.

Nothing is ever downloaded: `tfds.load` downloads by default, so the readers
of this package go through `load_prepared`, which only reads the data_dir.
"""


def load_prepared(name, split, data_dir=None, **as_dataset_kwargs):
    """Split `split` of the prepared TensorFlow Datasets set `name`.

    Args:
        name: a tfds name, e.g. `"fashion_mnist"` or `"ted_hrlr_translate/pt_to_en"`.
        split: a split name, e.g. `"train"`.
        data_dir: the tfds data_dir (default: tfds' own, `TFDS_DATA_DIR` or
            `~/tensorflow_datasets`).
        **as_dataset_kwargs: passed to `builder.as_dataset` (e.g.
            `as_supervised=True`).

    Returns:
        `(dataset, info)`: the `tf.data.Dataset` and the builder's
        `tfds.core.DatasetInfo`.

    Raises:
        ValueError: `name` is not a tfds set, or it has no split `split`.
        FileNotFoundError: the set is not prepared in the data_dir (the
            message names the directory looked in and how to prepare it).
    """
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise ValueError(f"tfds:{name} is not a TensorFlow Datasets name (see "
                         f"`tfds.list_builders()`). Received: tfds:{name}") from None  # fmt: skip
    try:
        dataset = builder.as_dataset(split=split, **as_dataset_kwargs)
    except AssertionError:  # tfds' "could not find data in DIR"
        raise FileNotFoundError(
            f"tfds:{name} is not prepared in {builder.data_dir}, and nothing is downloaded. "
            f"Prepare it on a machine with network access (`tfds build {name} --data_dir DIR`), "
            "copy DIR here and pass --tfds-data-dir DIR"
        ) from None
    except ValueError as error:  # an unknown split
        raise ValueError(f"tfds:{name} has no split {split!r} ({str(error)[:200]})") from None
    return dataset, builder.info
