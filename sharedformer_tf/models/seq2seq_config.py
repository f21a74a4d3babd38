"""`Seq2SeqConfig` and its presets `tiny()`, `tiny_relaxed()`, `small()`, `base()`."""

import dataclasses

from sharedformer_tf.models.config_dataclass import (
    ConfigDataclass,
    check_depth_distillation,
    check_depths,
    check_token_model,
    select_preset,
)
from sharedformer_tf.sharing.sharing_plan import SharingPlan


@dataclasses.dataclass(frozen=True)
class Seq2SeqConfig(ConfigDataclass):
    """Shape and sharing of a `Seq2SeqTransformer`.

    Attributes:
        vocabulary_size: number of token ids (shared by source and target).
        hidden_dim: model width `H`.
        num_heads: attention heads; must divide `hidden_dim`.
        intermediate_dim: feed-forward width.
        encoder_plan: `SharingPlan` of the encoder depths.
        decoder_plan: `SharingPlan` of the decoder depths.
        cross_attention_plan: shorthand for the decoder's cross-attention
            groups: a `SharingPlan` whose attention groups the decoder takes
            as `decoder_plan`'s explicit cross-attention assignments; `None`
            keeps `decoder_plan`'s (which may assign cross-attention itself).
        embedding_dim: `E < H` factorizes the embeddings (ALBERT); `None`
            means `E = H`.
        dropout: residual, embedding and feed-forward dropout.
        norm_first: pre-LN (`True`) or post-LN blocks.
        activation: feed-forward activation.
        per_depth_norms: unshared layer norms at every depth.
        use_depth_embedding: learned per-depth vectors (Universal Transformer).
        adapter_dim: width of a per-depth feed-forward adapter beside the
            shared feed-forward network (relaxed sharing), or `None`.
        lora_rank: rank of per-depth LoRA deltas of the attention and
            feed-forward kernels (relaxed sharing, `LoRADeltas`), or `None`.
        share_encoder_decoder: decoder depths reuse the encoder's
            self-attention and feed-forward instances of their group.
        kv_sharing: `"none"` (default) or `"group"`: the decoder depths of
            a self-attention group attend to its first depth's keys and
            values and share one KV-cache slot (Mixture-of-Recursions'
            recursive KV sharing: cache memory and key/value projections per
            generated token fall from decoder depths to groups).
        tie_embeddings: source and target share one embedding table.
        tie_output: the output projection is the transposed target
            embedding.
        position_encoding: `"sine"` (no parameters, any length) or
            `"learned"` (a table of `max_length` rows).
        max_length: longest sequence the model is built for (learned
            positions; default decoding budget).
        layer_norm_epsilon: epsilon of every layer norm.
        pad_id, bos_id, eos_id: special token ids.
        depths: depths the model can also run besides its plans' (elastic
            depth: `model.at_depth(n)`, `generate(..., depth=n)`; trained
            with one depth drawn per step). A depth `n` runs `n` encoder
            and `n` decoder depths, so it needs plans of equal depth; `()`
            (default): none.
        depth_distillation: float >= 0. With `depths`, a training step that
            draws a shallower depth adds this weight times KL(deepest depth
            || drawn depth) of the output distributions to its loss; `0.0`
            (default): none.
        deepest_share: float in (0, 1) or `None`. With `depths`, the share
            of training steps that run the deepest depth (the rest spread
            evenly over the others); `None` (default): every depth alike.
        depth_sampling: `"one"` (default: each training step runs one
            drawn depth) or `"sandwich"` (with `depths`: each step runs the
            deepest depth and one drawn shallower depth and sums their
            losses, the slimmable networks' sandwich rule; up to twice the
            compute per step; the distillation teacher is then the deepest
            depth's output of the same step).
    """

    vocabulary_size: int
    hidden_dim: int
    num_heads: int
    intermediate_dim: int
    encoder_plan: SharingPlan
    decoder_plan: SharingPlan
    cross_attention_plan: SharingPlan | None = None
    embedding_dim: int | None = None
    dropout: float = 0.1
    norm_first: bool = True
    activation: str = "relu"
    per_depth_norms: bool = True
    use_depth_embedding: bool = False
    adapter_dim: int | None = None
    lora_rank: int | None = None
    share_encoder_decoder: bool = False
    kv_sharing: str = "none"
    tie_embeddings: bool = True
    tie_output: bool = True
    position_encoding: str = "sine"
    max_length: int = 128
    layer_norm_epsilon: float = 1e-5
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    depths: tuple = ()
    depth_distillation: float = 0.0
    deepest_share: float | None = None
    depth_sampling: str = "one"

    def __post_init__(self):
        for field in ("encoder_plan", "decoder_plan"):
            object.__setattr__(self, field, SharingPlan.coerce(getattr(self, field)))
        if self.cross_attention_plan is not None:
            cross = SharingPlan.coerce(self.cross_attention_plan)
            object.__setattr__(self, "cross_attention_plan", cross)
            if cross.num_layers != self.decoder_plan.num_layers:
                raise ValueError(
                    "`cross_attention_plan` must have as many depths as "
                    f"`decoder_plan`. Received: cross_attention_plan={cross!r}, "
                    f"decoder_plan={self.decoder_plan!r}"
                )
        check_token_model(self)
        check_depth_distillation(self.depth_distillation, self.deepest_share, self.depth_sampling)
        depths = check_depths(self.encoder_plan, self.depths)
        if depths and self.encoder_plan.num_layers != self.decoder_plan.num_layers:
            raise ValueError(
                "Elastic depth runs as many encoder as decoder depths, so `depths` needs "
                "plans of equal depth. Received: encoder_plan with "
                f"{self.encoder_plan.num_layers} depths, decoder_plan with "
                f"{self.decoder_plan.num_layers}, depths={self.depths!r}"
            )
        check_depths(self.effective_decoder_plan, depths)
        object.__setattr__(self, "depths", depths)

    @property
    def effective_decoder_plan(self):
        """`decoder_plan` with `cross_attention_plan`'s groups as its
        cross-attention assignments (what the decoder stack runs)."""
        if self.cross_attention_plan is None:
            return self.decoder_plan
        return self.decoder_plan.with_assignments(
            cross_attention=self.cross_attention_plan.attention_assignments
        )


def tiny(**changes):
    """Fast CPU size, used by the translation demo: H=128, 4 heads, FFN 512,
    4+4 depths over 2 groups (`cycle_rev`, ABBA), vocabulary 1000, 64
    positions."""
    config = Seq2SeqConfig(
        vocabulary_size=1000,
        hidden_dim=128,
        num_heads=4,
        intermediate_dim=512,
        encoder_plan=SharingPlan(4, 2, strategy="cycle_rev"),
        decoder_plan=SharingPlan(4, 2, strategy="cycle_rev"),
        max_length=64,
    )
    return config.replace(**changes)


def tiny_relaxed(**changes):
    """`small`'s sharing scheme at `tiny`'s width, for natural-language corpora
    on a CPU: H=128, 4 heads, FFN 512, 4+4 depths (`cycle_rev`) whose
    attention sublayers use 2 groups (ABBA) and feed-forward networks 3
    (ACBA), the decoder reusing the encoder's groups, a 32-wide adapter of
    its own at every depth (relaxed sharing), tied embeddings, vocabulary
    1000, dropout 0.1, 128 positions, trained at a peak learning rate of 4e-3
    (`training.recipes.SEQ2SEQ_LEARNING_RATES`). 859,776 stored parameters:
    0.476x a plain 3+3 Transformer of the same width and 0.43x the unshared
    4+4 model (at a 1000-piece vocabulary). On `bible:es-en` (5 epochs,
    benchmarks/RESULTS.md) its test BLEU was 0.43 below that unshared
    model's (s.e. 0.06, 5 seeds) and 2.78 above keras-hub's 3+3 (s.e. 0.17,
    3 seeds)."""
    plan = SharingPlan(4, 2, strategy="cycle_rev", num_groups_ffn=3)
    config = tiny(
        encoder_plan=plan,
        decoder_plan=plan,
        share_encoder_decoder=True,
        adapter_dim=32,
        max_length=128,
    )
    return config.replace(**changes)


def small(**changes):
    """CPU-trainable translator for corpora of tens of thousands of pairs:
    H=256, 4 heads, FFN 1024, 4+4 depths (`cycle_rev`) whose attention
    sublayers use 2 groups (ABBA) and feed-forward networks 3 (ACBA), the
    decoder reusing the encoder's groups, a 32-wide adapter of its own at
    every depth (relaxed sharing), tied embeddings, vocabulary 8000, no
    dropout (a handful of epochs underfits rather than overfits; pass
    `dropout=0.1` for long runs on small corpora), trained at a peak
    learning rate of 2e-3 (`training.recipes.SEQ2SEQ_LEARNING_RATES`). 0.41x the stored parameters
    of a plain 3+3 Transformer of the same width (0.49x at a 247-piece
    vocabulary)."""
    plan = SharingPlan(4, 2, strategy="cycle_rev", num_groups_ffn=3)
    config = Seq2SeqConfig(
        vocabulary_size=8000,
        hidden_dim=256,
        num_heads=4,
        intermediate_dim=1024,
        encoder_plan=plan,
        decoder_plan=plan,
        share_encoder_decoder=True,
        adapter_dim=32,
        dropout=0.0,
        max_length=128,
    )
    return config.replace(**changes)


def base(**changes):
    """Transformer-base width (H=512, 8 heads, FFN 2048) with 6+6 depths over
    3 groups (`cycle_rev`), vocabulary 32000."""
    config = Seq2SeqConfig(
        vocabulary_size=32000,
        hidden_dim=512,
        num_heads=8,
        intermediate_dim=2048,
        encoder_plan=SharingPlan(6, 3, strategy="cycle_rev"),
        decoder_plan=SharingPlan(6, 3, strategy="cycle_rev"),
        max_length=256,
    )
    return config.replace(**changes)


PRESETS = {"tiny": tiny, "tiny_relaxed": tiny_relaxed, "small": small, "base": base}


def preset(name, **changes):
    """Returns the preset `name` (`"tiny"`, `"tiny_relaxed"`, `"small"`,
    `"base"`) with `changes` applied."""
    return select_preset(PRESETS, name, **changes)
