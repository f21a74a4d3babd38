"""Which part of a data set an app scores a trained model on."""

SPLIT_CHOICES = ("test", "all")


def evaluation_split(requested, spec, training_spec):
    """`requested` if given; else `"test"` for the training SPEC (its held-out
    split) and for sets with a defined test split, and `"all"` for a
    `folder:` set that was not the training data (a folder the user brings
    is scored whole).

    Example:

    >>> evaluation_split(None, "folder:new", "fashion_mnist")
    'all'
    >>> evaluation_split(None, "folder:mine", "folder:mine")
    'test'
    """
    if requested:
        return requested
    return "all" if spec.startswith("folder:") and spec != training_spec else "test"


def add_split_flag(parser):
    """`--split test|all` (see `evaluation_split`)."""
    parser.add_argument(
        "--split",
        choices=SPLIT_CHOICES,
        help="part of --data to score (default: test for the training data, all for another "
        "folder:)",
    )
