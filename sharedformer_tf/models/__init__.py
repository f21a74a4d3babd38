from sharedformer_tf.models import seq2seq_config, vit_config
from sharedformer_tf.models.seq2seq_config import Seq2SeqConfig
from sharedformer_tf.models.seq2seq_transformer import Seq2SeqTransformer
from sharedformer_tf.models.vit_classifier import ViTClassifier
from sharedformer_tf.models.vit_config import ViTConfig

__all__ = [
    "Seq2SeqConfig",
    "Seq2SeqTransformer",
    "ViTClassifier",
    "ViTConfig",
    "seq2seq_config",
    "vit_config",
]
