from sharedformer_tf.models import audio_config, causal_lm_config, seq2seq_config, vit_config
from sharedformer_tf.models.audio_classifier import AudioClassifier
from sharedformer_tf.models.audio_config import AudioConfig
from sharedformer_tf.models.causal_lm_config import CausalLMConfig
from sharedformer_tf.models.seq2seq_config import Seq2SeqConfig
from sharedformer_tf.models.seq2seq_transformer import Seq2SeqTransformer
from sharedformer_tf.models.shared_causal_lm import SharedCausalLM
from sharedformer_tf.models.vit_classifier import ViTClassifier
from sharedformer_tf.models.vit_config import ViTConfig

__all__ = [
    "AudioClassifier",
    "AudioConfig",
    "CausalLMConfig",
    "Seq2SeqConfig",
    "Seq2SeqTransformer",
    "SharedCausalLM",
    "ViTClassifier",
    "ViTConfig",
    "audio_config",
    "causal_lm_config",
    "seq2seq_config",
    "vit_config",
]
