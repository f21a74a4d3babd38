import keras
import keras_hub
import numpy as np
from keras import ops

from sharedformer_tf.layers.position_encoding import PositionEncoding
from sharedformer_tf.layers.token_embedding import TokenEmbedding
from sharedformer_tf.models import graph_generation
from sharedformer_tf.models.causal_lm_config import CausalLMConfig
from sharedformer_tf.models.elastic_depth_model import ElasticDepthModel
from sharedformer_tf.models.greedy_sampler import GreedySampler
from sharedformer_tf.models.token_inputs import embed_tokens
from sharedformer_tf.stacks.shared_decoder import SharedDecoder


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class SharedCausalLM(ElasticDepthModel):
    """Decoder-only language model with cross-layer parameter sharing.

    A functional Keras model from token ids to next-token logits, trainable
    with `model.fit` on `(ids[:, :-1], ids[:, 1:])`. Its stack is a
    `SharedDecoder` without cross-attention following `config.plan`, so every
    strategy and scope applies (ALBERT / Universal Transformer `all`,
    MobileLLM's block repetition `sequence`, `cycle`, ...). `generate` decodes
    with per-depth key/value caches and a keras-hub sampler.

    Args:
        config: `CausalLMConfig` (or its dict), e.g. `models.causal_lm_config.tiny()`.
        dtype: optional dtype policy for all layers (e.g. `"mixed_bfloat16"`).
        **kwargs: `keras.Model` arguments such as `name`.

    Call arguments:
        token_ids: int tensor `[batch, length]`, right-padded with
            `config.pad_id`.

    Returns:
        float32 logits `[batch, length, vocabulary_size]`.

    Example:

    >>> from sharedformer_tf.models import causal_lm_config
    >>> model = SharedCausalLM(causal_lm_config.tiny(vocabulary_size=10,
    ...     hidden_dim=8, num_heads=2, intermediate_dim=16))
    >>> ids = keras.ops.array([[1, 5, 6, 7]])
    >>> tuple(model(ids).shape)
    (1, 4, 10)
    >>> tuple(model.generate(ids, max_length=6).shape)
    (1, 6)
    """

    def __init__(self, config, dtype=None, **kwargs):
        config = CausalLMConfig.coerce(config)
        c = config

        # === Layers ===
        embedding = TokenEmbedding(
            c.vocabulary_size,
            c.hidden_dim,
            embedding_dim=c.embedding_dim,
            tie_weights=c.tie_output,
            dtype=dtype,
            name="token_embedding",
        )
        position = PositionEncoding(
            c.max_length, c.position_encoding, dtype=dtype, name="position_encoding"
        )
        embedding_dropout = keras.layers.Dropout(c.dropout, dtype=dtype, name="embedding_dropout")
        decoder = SharedDecoder(
            c.plan,
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
            use_cross_attention=False,
            kv_sharing=c.kv_sharing,
            depths=list(c.depths) or None,
            dtype=dtype,
            name="decoder",
        )
        self.config = config
        self.token_embedding = embedding
        self.position_encoding = position
        self.embedding_dropout = embedding_dropout
        self.decoder = decoder

        # === Functional model ===
        token_ids = keras.Input((None,), dtype="int32", name="token_ids")
        self._token_ids = token_ids
        self._embedded = self._embed(token_ids)
        super().__init__(inputs=token_ids, outputs=self._logits(), dtype=dtype, **kwargs)
        self._build_depth_models()

    @property
    def elastic_stack(self):
        return self.decoder

    def _logits(self, depth=None):
        mask = ops.not_equal(self._token_ids, self.config.pad_id)
        x = self.decoder(self._embedded, decoder_padding_mask=mask, depth=depth)
        return self.token_embedding(x, reverse=True)

    def _distillation_weights(self, token_ids):
        return ops.cast(ops.not_equal(token_ids, self.config.pad_id), "float32")

    def at_depth(self, depth):
        """A `keras.Model` of this language model at `depth` depths (one of
        `depths`): the same layers and weights, token ids to logits."""
        if depth not in self.depths:
            raise ValueError(f"This model runs at depths {list(self.depths)}. "
                             f"Received: depth={depth!r}")  # fmt: skip
        return keras.Model(self._token_ids, self._logits(depth), name=f"{self.name}_depth_{depth}")

    def _embed(self, token_ids, start_index=0, training=None):
        return embed_tokens(self.token_embedding, self.position_encoding, self.embedding_dropout,
                            token_ids, start_index, training)  # fmt: skip

    def init_cache(self, batch_size, max_length, per_slot=False):
        """Zero key/value cache for `max_length` positions, one slot per
        depth (per self-attention group with `kv_sharing="group"`):
        `[batch, num_cache_slots, 2, max_length, num_heads, head_dim]`, or
        with `per_slot` a tuple of heads-first `(keys, values)` pairs (see
        `SharedDecoder.init_cache`)."""
        return self.decoder.init_cache(batch_size, max_length, dtype=self.compute_dtype,
                                       per_slot=per_slot)  # fmt: skip

    def call_with_cache(self, token_ids, cache, cache_update_index, depth=None,
                        exit_threshold=None, output_kernel=None):  # fmt: skip
        """One incremental step.

        Args:
            token_ids: int tensor `[batch, length]` at positions
                `cache_update_index ...`.
            cache: from `init_cache` or a previous step.
            cache_update_index: int scalar position of `token_ids[:, 0]`.
            depth: int, one of `depths` (`None`: the plan's depth).
            exit_threshold: float or `None`: per-token early exit (see
                `SharedDecoder`); equals `exit_logits` with the same
                threshold.
            output_kernel: `None` or the token embedding's
                `output_kernel()`, computed once by the caller.

        Returns:
            `(logits [batch, length, vocabulary_size], hidden_states [batch,
            length, hidden_dim], cache)`.
        """
        x = self._embed(token_ids, start_index=cache_update_index)
        x, cache = self.decoder(x, self_attention_cache=cache,
                                cache_update_index=cache_update_index, depth=depth,
                                exit_threshold=exit_threshold)  # fmt: skip
        return self.token_embedding.logits(x, output_kernel), x, cache

    def exit_logits(self, token_ids, exit_threshold, depth=None):
        """The full pass with per-token early exit (`SharedDecoder`'s rule:
        a token leaves at the first of `depths` where the depth before it
        changed its hidden state by less than `exit_threshold` of its norm;
        the depths it skips see its state copied forward): what cached
        decoding with the same threshold computes, token for token.

        Args:
            token_ids: int tensor `[batch, length]`.
            exit_threshold: float; `0.0` never exits.
            depth: int, one of `depths`, the deepest run (`None`: the
                plan's depth).

        Returns:
            `(logits [batch, length, vocabulary_size], exit_depths int32
            [batch, length])`.
        """
        mask = ops.not_equal(token_ids, self.config.pad_id)
        x, used = self.decoder(self._embed(token_ids), decoder_padding_mask=mask, depth=depth,
                               exit_threshold=exit_threshold, return_exit_depths=True)  # fmt: skip
        return self.token_embedding(x, reverse=True), used

    def generate_step(self, prompt_ids, max_length, sampler="greedy", depth=None,
                      exit_threshold=None, xla_layouts=False):  # fmt: skip
        """Continues each prompt to `max_length` tokens with the cache.

        Uses only `keras.ops` (a `tf.function` or an export can wrap it).
        Prompts are right-padded with `pad_id` and may differ in length;
        generation starts after the shortest and keeps every prompt token.
        Positions after the first generated `eos_id` are set to `pad_id`.

        Args:
            prompt_ids: int tensor `[batch, prompt_length]`, `prompt_length
                <= max_length`.
            max_length: int. Length of the returned sequences (prompt included).
            sampler: a `keras_hub.samplers.Sampler` or its name (`"greedy"`,
                the default, is `models.GreedySampler`; `"top_k"`, ...).
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
        kernel = self.token_embedding.output_kernel() if xla_layouts else None
        prompt_ids = ops.convert_to_tensor(prompt_ids, "int32")
        batch_size, prompt_length = ops.shape(prompt_ids)[0], ops.shape(prompt_ids)[1]
        padding = ops.full((batch_size, max_length - prompt_length), c.pad_id, dtype="int32")
        tokens = ops.concatenate([prompt_ids, padding], axis=1)
        fixed = ops.not_equal(tokens, c.pad_id)
        start = ops.min(ops.sum(ops.cast(fixed, "int32"), axis=1))
        # Prefill every position; those from `start` on are rewritten as they
        # are generated (causal attention: a position sees only earlier ones).
        cache = self.init_cache(batch_size, max_length, per_slot=xla_layouts)
        _, _, cache = self.call_with_cache(tokens, cache, 0, depth, exit_threshold)

        def next_token(prompt, cache, index):
            token = ops.slice(prompt, [0, index - 1], [ops.shape(prompt)[0], 1])
            logits, hidden, cache = self.call_with_cache(token, cache, index - 1, depth,
                                                         exit_threshold, kernel)  # fmt: skip
            return logits[:, 0, :], hidden[:, 0, :], cache

        tokens = sampler(next_token, tokens, cache=cache, index=start, mask=fixed,
                         stop_token_ids=(c.eos_id,), model=self)  # fmt: skip
        is_eos = ops.cast(ops.logical_and(ops.equal(tokens, c.eos_id), ~fixed), "int32")
        after_eos = (ops.cumsum(is_eos, axis=1) - is_eos) > 0
        return ops.where(after_eos, ops.cast(c.pad_id, tokens.dtype), tokens)

    def generate(self, prompt_ids, max_length=None, sampler="greedy", depth=None,
                 exit_threshold=None):  # fmt: skip
        """`generate_step` compiled as a graph function once per
        `(max_length, sampler)`.

        Args:
            prompt_ids: int array `[batch, prompt_length]`, right-padded;
                every prompt has at least one token.
            max_length: int. Returned length; defaults to `config.max_length`.
            sampler: `"greedy"`, `"top_k"`, `"top_p"`, ... or a
                `keras_hub.samplers.Sampler`.
            depth: int, one of `depths` (`None`: the plan's depth).
            exit_threshold: float or `None`: per-token early exit (see
                `exit_logits`).

        Returns:
            int32 tensor `[batch, max_length]`.
        """
        self.check_run(depth, exit_threshold)
        if max_length is None:
            max_length = self.config.max_length
        if max_length > self.config.max_length:
            raise ValueError(
                f"`max_length` must be at most config.max_length={self.config.max_length}. "
                f"Received: max_length={max_length}"
            )
        prompts = np.asarray(prompt_ids)
        if prompts.ndim != 2 or prompts.shape[1] > max_length:
            raise ValueError(
                "The prompts must be `[batch, length]` with length <= `max_length`. Received: "
                f"shape {prompts.shape}, max_length={max_length}"
            )
        if not np.all(np.any(prompts != self.config.pad_id, axis=1)):
            raise ValueError("Every prompt needs at least one token (e.g. `bos_id`). Received: "
                             f"a prompt of pad_id={self.config.pad_id} only")  # fmt: skip
        return graph_generation.generate(self, prompt_ids, max_length, sampler, depth=depth,
                                         exit_threshold=exit_threshold)  # fmt: skip
