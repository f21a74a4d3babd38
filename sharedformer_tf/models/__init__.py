from sharedformer_tf.models import audio_config, seq2seq_config, vit_config
from sharedformer_tf.models.audio_classifier import AudioClassifier
from sharedformer_tf.models.audio_config import AudioConfig
from sharedformer_tf.models.seq2seq_config import Seq2SeqConfig
from sharedformer_tf.models.seq2seq_transformer import Seq2SeqTransformer
from sharedformer_tf.models.vit_classifier import ViTClassifier
from sharedformer_tf.models.vit_config import ViTConfig

__all__ = [
    "AudioClassifier",
    "AudioConfig",
    "Seq2SeqConfig",
    "Seq2SeqTransformer",
    "ViTClassifier",
    "ViTConfig",
    "audio_config",
    "seq2seq_config",
    "vit_config",
]
