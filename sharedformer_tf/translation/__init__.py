from sharedformer_tf.translation.evaluation import evaluate, score
from sharedformer_tf.translation.translator import Translator

__all__ = ["Translator", "evaluate", "score"]
