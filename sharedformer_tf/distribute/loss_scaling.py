"""Loss terms that a model adds in `compute_loss`, scaled as Keras scales
its own losses under a `tf.distribute` strategy."""

import keras  # noqa: F401  (the doctest's namespace)
import tensorflow as tf
from keras import ops


def scale_for_replicas(loss):
    """`loss` (a per-replica mean) divided by the replicas in sync, as Keras
    divides its compiled and added losses: the strategy sums the replicas'
    gradients, so the sum is the mean over the global batch. A term added
    in `compute_loss` without it would count once per replica (a KL term
    twice as heavy on two replicas as on one). Keras does the same in its
    private `keras.src.losses.loss.scale_loss_for_distribution`, which is
    not part of its public API.

    Args:
        loss: float scalar tensor.

    Returns:
        The scaled scalar (`loss` itself on one replica).

    Example:

    >>> float(scale_for_replicas(keras.ops.convert_to_tensor(3.0)))
    3.0
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas == 1 else ops.multiply(loss, ops.cast(1.0 / replicas, loss.dtype))
