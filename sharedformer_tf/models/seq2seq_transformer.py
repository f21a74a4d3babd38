import keras
import keras_hub
from keras import ops

from sharedformer_tf.layers.position_encoding import PositionEncoding
from sharedformer_tf.layers.token_embedding import TokenEmbedding
from sharedformer_tf.models import graph_generation
from sharedformer_tf.models.elastic_depth_model import ElasticDepthModel
from sharedformer_tf.models.greedy_sampler import GreedySampler
from sharedformer_tf.models.seq2seq_config import Seq2SeqConfig
from sharedformer_tf.models.token_inputs import embed_tokens
from sharedformer_tf.stacks.shared_decoder import SharedDecoder
from sharedformer_tf.stacks.shared_encoder import SharedEncoder


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class Seq2SeqTransformer(ElasticDepthModel):
    """Encoder-decoder Transformer with cross-layer parameter sharing.

    A functional Keras model from token ids to next-token logits, trainable
    with `model.fit`. Its encoder and decoder are `SharedEncoder` and
    `SharedDecoder` stacks following `config.encoder_plan` and
    `config.decoder_plan`; `config.share_encoder_decoder` ties the decoder's
    self-attention and feed-forward instances to the encoder's. Decoding
    (`generate`) runs the decoder one token at a time with per-depth key/value
    caches and a keras-hub sampler.

    With `config.depths`, the model also runs at those depths with the same
    weights (elastic depth): depth `n` runs `n` encoder and `n` decoder
    depths (`at_depth(n)`, `generate(..., depth=n)`), and `fit` trains one
    drawn depth per step (`ElasticDepthModel`). Such a model can also let
    each target token leave the decoder early (`generate(...,
    exit_threshold=c)`, `SharedDecoder`'s rule).

    Args:
        config: `Seq2SeqConfig` (or its dict), e.g. `models.seq2seq_config.small()`.
        dtype: optional dtype policy for all layers (e.g. `"mixed_bfloat16"`).
        **kwargs: `keras.Model` arguments such as `name`.

    Call arguments:
        inputs: dict with `"encoder_token_ids"` `[batch, source_length]` and
            `"decoder_token_ids"` `[batch, target_length]` int tensors, padded
            with `config.pad_id`. The decoder ids start with `config.bos_id`
            (teacher forcing: targets shifted right).

    Returns:
        float32 logits `[batch, target_length, vocabulary_size]`.

    Example:

    >>> from sharedformer_tf.models import seq2seq_config
    >>> model = Seq2SeqTransformer(seq2seq_config.tiny(vocabulary_size=10,
    ...     hidden_dim=8, num_heads=2, intermediate_dim=16))
    >>> ids = keras.ops.array([[5, 6, 7, 2]])
    >>> tuple(model({"encoder_token_ids": ids, "decoder_token_ids": ids}).shape)
    (1, 4, 10)
    >>> tuple(model.generate(ids, max_length=5).shape)
    (1, 5)
    """

    def __init__(self, config, dtype=None, **kwargs):
        config = Seq2SeqConfig.coerce(config)
        c = config

        # === Layers ===
        source_embedding = TokenEmbedding(
            c.vocabulary_size,
            c.hidden_dim,
            embedding_dim=c.embedding_dim,
            tie_weights=c.tie_output,
            dtype=dtype,
            name="token_embedding" if c.tie_embeddings else "source_embedding",
        )
        target_embedding = source_embedding
        if not c.tie_embeddings:
            target_embedding = TokenEmbedding(
                c.vocabulary_size,
                c.hidden_dim,
                embedding_dim=c.embedding_dim,
                tie_weights=c.tie_output,
                dtype=dtype,
                name="target_embedding",
            )
        position = PositionEncoding(
            c.max_length, c.position_encoding, dtype=dtype, name="position_encoding"
        )
        embedding_dropout = keras.layers.Dropout(c.dropout, dtype=dtype, name="embedding_dropout")
        stack_args = dict(
            num_heads=c.num_heads,
            intermediate_dim=c.intermediate_dim,
            dropout=c.dropout,
            norm_first=c.norm_first,
            activation=c.activation,
            layer_norm_epsilon=c.layer_norm_epsilon,
            per_depth_norms=c.per_depth_norms,
            use_depth_embedding=c.use_depth_embedding,
            adapter_dim=c.adapter_dim,
            lora_rank=c.lora_rank,
            depths=list(c.depths) or None,
            dtype=dtype,
        )
        encoder = SharedEncoder(c.encoder_plan, name="encoder", **stack_args)
        decoder = SharedDecoder(
            c.decoder_plan,
            cross_attention_plan=c.cross_attention_plan,
            tied_encoder=encoder if c.share_encoder_decoder else None,
            kv_sharing=c.kv_sharing,
            name="decoder",
            **stack_args,
        )
        self.config = config
        self.source_embedding = source_embedding
        self.target_embedding = target_embedding
        self.position_encoding = position
        self.embedding_dropout = embedding_dropout
        self.encoder = encoder
        self.decoder = decoder

        # === Functional model ===
        inputs = {
            "encoder_token_ids": keras.Input((None,), dtype="int32", name="encoder_token_ids"),
            "decoder_token_ids": keras.Input((None,), dtype="int32", name="decoder_token_ids"),
        }
        # A plain dict (not tracked): Keras checks call inputs against its structure.
        object.__setattr__(self, "_input_ids", inputs)
        super().__init__(inputs=self._input_ids, outputs=self._logits(), dtype=dtype, **kwargs)
        self._build_depth_models()

    @property
    def elastic_stack(self):
        return self.decoder

    def _logits(self, depth=None):
        encoder_outputs, encoder_mask = self.encode(
            self._input_ids["encoder_token_ids"], depth=depth
        )
        decoder_ids = self._input_ids["decoder_token_ids"]
        x = self.decoder(
            self._embed(self.target_embedding, decoder_ids),
            encoder_outputs,
            decoder_padding_mask=ops.not_equal(decoder_ids, self.config.pad_id),
            encoder_padding_mask=encoder_mask,
            depth=depth,
        )
        return self.target_embedding(x, reverse=True)

    def at_depth(self, depth):
        """A `keras.Model` of this translator at `depth` encoder and decoder
        depths (one of `depths`): the same layers and weights, the same
        inputs and logits as the model."""
        self.check_run(depth)
        return keras.Model(self._input_ids, self._logits(depth), name=f"{self.name}_depth_{depth}")

    def _distillation_weights(self, inputs):
        return ops.cast(ops.not_equal(inputs["decoder_token_ids"], self.config.pad_id), "float32")

    def _embed(self, embedding, token_ids, start_index=0, training=None):
        return embed_tokens(embedding, self.position_encoding, self.embedding_dropout, token_ids,
                            start_index, training)  # fmt: skip

    def encode(self, encoder_token_ids, training=None, depth=None):
        """Runs the encoder.

        Args:
            encoder_token_ids: int tensor `[batch, source_length]`.
            depth: int, one of `depths` (`None`: the plan's depth).

        Returns:
            `(encoder_outputs [batch, source_length, hidden_dim],
            encoder_padding_mask [batch, source_length])`.
        """
        mask = ops.not_equal(encoder_token_ids, self.config.pad_id)
        x = self._embed(self.source_embedding, encoder_token_ids, training=training)
        return self.encoder(x, padding_mask=mask, training=training, depth=depth), mask

    def init_cache(self, encoder_token_ids, max_length, depth=None, per_slot=False):
        """Encodes the source (at `depth` depths, `None`: the plan's) and
        sets up decoding state for `max_length` decoder positions (the
        self-attention cache as one tensor, or with `per_slot` as heads-first
        `(keys, values)` pairs: see `SharedDecoder.init_cache`).

        Returns:
            The tuple `(self_attention_cache, cross_attention_cache,
            encoder_padding_mask)`, every entry batch-first (so samplers can
            repeat or gather it per beam).
        """
        encoder_outputs, mask = self.encode(encoder_token_ids, depth=depth)
        cross_cache = self.decoder.compute_cross_attention_cache(encoder_outputs, depth)
        batch_size = ops.shape(encoder_token_ids)[0]
        self_cache = self.decoder.init_cache(batch_size, max_length, dtype=encoder_outputs.dtype,
                                             per_slot=per_slot)  # fmt: skip
        return self_cache, cross_cache, mask

    def call_decoder_with_cache(self, decoder_token_ids, cache, cache_update_index, depth=None,
                                exit_threshold=None, output_kernel=None):  # fmt: skip
        """One incremental decoder step.

        Args:
            decoder_token_ids: int tensor `[batch, length]` at positions
                `cache_update_index ...` (usually `length == 1`).
            cache: the tuple from `init_cache` (or a previous step), made
                at the same `depth`.
            cache_update_index: int scalar position of `decoder_token_ids[:, 0]`.
            depth: int, one of `depths` (`None`: the plan's depth).
            exit_threshold: float or `None`: per-token early exit (see
                `exit_logits`, which it equals with the same threshold).
            output_kernel: `None` or the target embedding's
                `output_kernel()`, computed once by the caller.

        Returns:
            `(logits [batch, length, vocabulary_size], hidden_states [batch,
            length, hidden_dim], cache)`.
        """
        self_cache, cross_cache, encoder_mask = cache
        x = self._embed(self.target_embedding, decoder_token_ids, start_index=cache_update_index)
        x, self_cache = self.decoder(
            x,
            encoder_padding_mask=encoder_mask,
            self_attention_cache=self_cache,
            cache_update_index=cache_update_index,
            cross_attention_cache=cross_cache,
            depth=depth,
            exit_threshold=exit_threshold,
        )
        logits = self.target_embedding.logits(x, output_kernel)
        return logits, x, (self_cache, cross_cache, encoder_mask)

    def exit_logits(self, inputs, exit_threshold, depth=None):
        """The full teacher-forced pass with per-token early exit in the
        decoder (`SharedDecoder`'s rule: a target token leaves at the first
        of `depths` where the depth before it changed its hidden state by
        less than `exit_threshold` of its norm; the depths it skips see its
        state copied forward): what cached decoding with the same threshold
        computes, token for token. The encoder runs all `depth` depths.

        Args:
            inputs: the model's input dict (`encoder_token_ids`,
                `decoder_token_ids`).
            exit_threshold: float; `0.0` never exits.
            depth: int, one of `depths`, the deepest run (`None`: the
                plan's depth).

        Returns:
            `(logits [batch, target_length, vocabulary_size], exit_depths
            int32 [batch, target_length])`.
        """
        self.check_run(depth, exit_threshold)
        encoder_outputs, encoder_mask = self.encode(inputs["encoder_token_ids"], depth=depth)
        decoder_ids = inputs["decoder_token_ids"]
        x, used = self.decoder(
            self._embed(self.target_embedding, decoder_ids),
            encoder_outputs,
            decoder_padding_mask=ops.not_equal(decoder_ids, self.config.pad_id),
            encoder_padding_mask=encoder_mask,
            depth=depth,
            exit_threshold=exit_threshold,
            return_exit_depths=True,
        )
        return self.target_embedding(x, reverse=True), used

    def generate_step(self, encoder_token_ids, max_length, sampler="greedy", depth=None,
                      exit_threshold=None, xla_layouts=False):  # fmt: skip
        """Decodes up to `max_length` tokens for a batch of token ids.

        Uses only `keras.ops`, so it can be wrapped in a `tf.function` (with
        or without XLA) or exported. Positions after the first `eos_id` are
        set to `pad_id`.

        Args:
            encoder_token_ids: int tensor `[batch, source_length]`.
            max_length: int. Number of tokens to generate (including EOS).
            sampler: a `keras_hub.samplers.Sampler` or its name
                (`"greedy"`, the default, is `models.GreedySampler`;
                `"beam"`, ...).
            depth: int, one of `depths` (`None`: the plan's depth).
            exit_threshold: float or `None`: per-token early exit (see
                `exit_logits`).
            xla_layouts: bool. The same tokens with the loop's tensors laid
                out as XLA on a CPU runs them fastest (see
                `graph_generation.generate`); exports keep the default.

        Returns:
            int32 tensor `[batch, max_length]`.
        """
        c = self.config
        sampler = GreedySampler() if sampler == "greedy" else keras_hub.samplers.get(sampler)
        kernel = self.target_embedding.output_kernel() if xla_layouts else None
        encoder_token_ids = ops.convert_to_tensor(encoder_token_ids, "int32")
        batch_size = ops.shape(encoder_token_ids)[0]
        cache = self.init_cache(encoder_token_ids, max_length + 1, depth, per_slot=xla_layouts)
        prompt = ops.concatenate(
            [
                ops.full((batch_size, 1), c.bos_id, dtype="int32"),
                ops.full((batch_size, max_length), c.pad_id, dtype="int32"),
            ],
            axis=1,
        )
        fixed = ops.concatenate(
            [
                ops.ones((batch_size, 1), dtype="bool"),
                ops.zeros((batch_size, max_length), dtype="bool"),
            ],
            axis=1,
        )

        def next_token(prompt, cache, index):
            # Beam search runs this on batch_size * num_beams rows.
            token = ops.slice(prompt, [0, index - 1], [ops.shape(prompt)[0], 1])
            logits, hidden, cache = self.call_decoder_with_cache(
                token, cache, index - 1, depth, exit_threshold, kernel
            )
            return logits[:, 0, :], hidden[:, 0, :], cache

        tokens = sampler(
            next_token,
            prompt,
            cache=cache,
            index=1,
            mask=fixed,
            stop_token_ids=(c.eos_id,),
            model=self,
        )
        tokens = tokens[:, 1:]
        is_eos = ops.cast(ops.equal(tokens, c.eos_id), "int32")
        after_eos = (ops.cumsum(is_eos, axis=1) - is_eos) > 0
        return ops.where(after_eos, ops.cast(c.pad_id, tokens.dtype), tokens)

    def generate(self, encoder_token_ids, max_length=None, sampler="greedy", jit_compile=False,
                 depth=None, exit_threshold=None):  # fmt: skip
        """Greedy (or other sampler) decoding with the KV cache, compiled as
        a graph function once per input shape.

        Args:
            encoder_token_ids: int array `[batch, source_length]`.
            max_length: int. Tokens to generate; defaults to
                `config.max_length - 1`.
            sampler: `"greedy"`, `"beam"`, or a `keras_hub.samplers.Sampler`.
            jit_compile: bool. Compile the whole decoding loop with XLA
                (once per input shape: keep batch and source shapes few,
                as `Translator.translate` does by bucketing).
            depth: int, one of `depths` (`None`: the plan's depth).
            exit_threshold: float or `None`: per-token early exit (see
                `exit_logits`).

        Returns:
            int32 tensor `[batch, max_length]`, padded with `pad_id` after EOS.
        """
        self.check_run(depth, exit_threshold)
        if max_length is None:
            max_length = self.config.max_length - 1
        return graph_generation.generate(self, encoder_token_ids, max_length, sampler, jit_compile,
                                         depth=depth, exit_threshold=exit_threshold)  # fmt: skip
