"""`CausalLMConfig` and its presets `tiny()`, `small()`."""

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
class CausalLMConfig(ConfigDataclass):
    """Shape and sharing of a `SharedCausalLM` (decoder-only language model).

    Attributes:
        vocabulary_size: number of token ids.
        hidden_dim: model width `H`.
        num_heads: attention heads; must divide `hidden_dim`.
        intermediate_dim: feed-forward width.
        plan: `SharingPlan` of the depths (any strategy and scope; the
            cross-attention assignments of a plan do not apply).
        embedding_dim: `E < H` factorizes the embedding (ALBERT); `None`
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
        tie_output: the output projection is the transposed embedding.
        kv_sharing: `"none"` or `"group"`: the depths of a self-attention
            group share its first depth's keys and values and one KV-cache
            slot (cache memory: groups instead of depths).
        position_encoding: `"sine"` or `"learned"`.
        max_length: longest sequence (learned positions; generation budget).
        layer_norm_epsilon: epsilon of every layer norm.
        pad_id, bos_id, eos_id: special token ids.
        depths: depths the model can also run besides `plan.num_layers`
            (elastic depth: `model.at_depth(n)`, `generate(..., depth=n)`;
            trained with one depth drawn per step); `()` (default): none.
        depth_distillation: float >= 0. With `depths`, a training step that
            draws a shallower depth adds this weight times KL(deepest depth
            || drawn depth) of the output distributions to its loss (the
            deepest run as the teacher, without gradient); `0.0` (default):
            none.
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
    plan: SharingPlan
    embedding_dim: int | None = None
    dropout: float = 0.0
    norm_first: bool = True
    activation: str = "gelu"
    per_depth_norms: bool = True
    use_depth_embedding: bool = False
    adapter_dim: int | None = None
    lora_rank: int | None = None
    tie_output: bool = True
    kv_sharing: str = "none"
    position_encoding: str = "learned"
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
        object.__setattr__(self, "plan", SharingPlan.coerce(self.plan))
        check_token_model(self)
        object.__setattr__(self, "depths", check_depths(self.plan, self.depths))
        check_depth_distillation(self.depth_distillation, self.deepest_share, self.depth_sampling)


def tiny(**changes):
    """Fast CPU size: H=128, 4 heads, FFN 512, 8 depths over 2 groups
    (`cycle`, ABABABAB), vocabulary 1000, 128 positions."""
    config = CausalLMConfig(
        vocabulary_size=1000,
        hidden_dim=128,
        num_heads=4,
        intermediate_dim=512,
        plan=SharingPlan(8, 2, strategy="cycle"),
    )
    return config.replace(**changes)


def small(**changes):
    """H=256, 4 heads, FFN 1024, 12 depths over 6 groups, each block run
    twice in a row (`sequence`, AABBCCDDEEFF: MobileLLM's immediate block
    repetition), vocabulary 8000, 256 positions."""
    config = CausalLMConfig(
        vocabulary_size=8000,
        hidden_dim=256,
        num_heads=4,
        intermediate_dim=1024,
        plan=SharingPlan(12, 6, strategy="sequence"),
        max_length=256,
    )
    return config.replace(**changes)


PRESETS = {"tiny": tiny, "small": small}


def preset(name, **changes):
    """Returns the preset `name` (`"tiny"`, `"small"`) with `changes` applied."""
    return select_preset(PRESETS, name, **changes)
