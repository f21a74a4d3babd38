from sharedformer_tf.layers.cached_multi_head_attention import CachedMultiHeadAttention
from sharedformer_tf.layers.exit_heads import ExitHeads
from sharedformer_tf.layers.feed_forward import FeedForward
from sharedformer_tf.layers.log_mel_spectrogram import LogMelSpectrogram
from sharedformer_tf.layers.lora_deltas import LoRADeltas
from sharedformer_tf.layers.patch_embedding import PatchEmbedding
from sharedformer_tf.layers.position_encoding import PositionEncoding
from sharedformer_tf.layers.spec_augment import SpecAugment
from sharedformer_tf.layers.token_embedding import TokenEmbedding
from sharedformer_tf.layers.transformer_block import TransformerBlock

__all__ = [
    "CachedMultiHeadAttention",
    "ExitHeads",
    "FeedForward",
    "LoRADeltas",
    "LogMelSpectrogram",
    "PatchEmbedding",
    "PositionEncoding",
    "SpecAugment",
    "TokenEmbedding",
    "TransformerBlock",
]
