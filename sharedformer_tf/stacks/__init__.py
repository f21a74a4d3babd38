from sharedformer_tf.stacks.shared_decoder import SharedDecoder
from sharedformer_tf.stacks.shared_encoder import SharedEncoder
from sharedformer_tf.stacks.shared_stack import SharedStack

__all__ = ["SharedDecoder", "SharedEncoder", "SharedStack"]
