import keras
import keras_hub
from keras import ops


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class GreedySampler(keras_hub.samplers.GreedySampler):
    """keras-hub's greedy sampler, made TFLite-friendly.

    Picks the highest logit with `ops.top_k(k=1)` instead of `ops.argmax`:
    on the TensorFlow backend, Keras' float `argmax` guards against negative
    zeros with a bitcast and `BitwiseAnd`, an op TFLite has only as a Flex
    op. It also skips the softmax, which cannot change the argmax. Ties go
    to the lowest token id, as with `argmax`.

    Example:

    >>> import numpy as np
    >>> from sharedformer_tf.models import Seq2SeqTransformer, seq2seq_config
    >>> model = Seq2SeqTransformer(seq2seq_config.tiny(
    ...     vocabulary_size=20, hidden_dim=8, num_heads=2, intermediate_dim=16))
    >>> ids = np.array([[5, 6, 7, 2]], "int32")
    >>> tuple(model.generate(ids, max_length=4, sampler=GreedySampler()).shape)
    (1, 4)
    """

    def compute_probabilities(self, logits):
        return ops.cast(logits, "float32")

    def get_next_token(self, probabilities):
        return ops.top_k(probabilities, k=1)[1][:, 0]
