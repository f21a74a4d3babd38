from sharedformer_tf.models import seq2seq_config
from sharedformer_tf.models.seq2seq_config import Seq2SeqConfig
from sharedformer_tf.models.seq2seq_transformer import Seq2SeqTransformer

__all__ = ["Seq2SeqConfig", "Seq2SeqTransformer", "seq2seq_config"]
