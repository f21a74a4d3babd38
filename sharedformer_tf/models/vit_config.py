"""Configuration and presets of `ViTClassifier`."""

import dataclasses

from sharedformer_tf.layers.patch_embedding import pooled_size
from sharedformer_tf.models.config_dataclass import (
    EXIT_HEADS,
    ConfigDataclass,
    check_depth_distillation,
    check_depths,
    check_halting,
    check_lora_rank,
    check_one_of,
    check_stem,
    select_preset,
)
from sharedformer_tf.sharing import SharingPlan
from sharedformer_tf.validation import (
    check_heads,
    check_positive_int,
    check_rate,
)

POOLINGS = ("class_token", "mean")


@dataclasses.dataclass(frozen=True)
class ViTConfig(ConfigDataclass):
    """Shape of a parameter-shared Vision Transformer classifier.

    Args:
        image_size: int. Height and width of the (square) input images.
        channels: int. 1 for grayscale, 3 for RGB.
        patch_size: int. Side of the patches; must divide `image_size`.
        num_classes: int. Output classes.
        hidden_dim: int. Width `H` of the encoder.
        num_heads: int. Attention heads; must divide `hidden_dim`.
        intermediate_dim: int. Feed-forward width.
        plan: `SharingPlan` of the encoder depths.
        pooling: `"class_token"` or `"mean"` (of the patch vectors).
        stem_filters: int or tuple: the filters of each 3x3 convolution of a
            stem before the patch projection (0: none, the plain ViT patch
            embedding). See `layers.PatchEmbedding`.
        stem_pooling: a stride-2 max pooling after each stem convolution
            (a convolutional tokenizer: `patch_size` then divides the pooled
            grid, e.g. 28 -> 14 -> 7 -> 4 after three stages).
        stem_activation: activation of the stem convolutions.
        dropout: residual and feed-forward dropout.
        per_depth_norms: unshared layer norms at every depth.
        lora_rank: rank of per-depth LoRA deltas of the attention and
            feed-forward kernels (relaxed sharing, `LoRADeltas`), or `None`.
        layer_norm_epsilon: epsilon of every layer norm.
        depths: depths the encoder can also run besides `plan.num_layers`
            (elastic depth: `model.at_depth(n)`, trained with one depth
            drawn per step); `()` (default): none.
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
        exit_heads: `"shared"` (default: one head for every depth) or
            `"per_depth"` (with `depths`: a head per depth, `ExitHeads`).
        halting_prior: float in (0, 1) or `None` (default). With `depths`,
            learned halting (PonderNet): the head also gives a halting
            probability at each exit, every training step runs all exits
            and learns the expected loss under the halting distribution
            plus `halting_weight` times its KL divergence from a geometric
            prior of this parameter over the exits; early exit then leaves
            where the cumulative halting probability passes the threshold.
        halting_weight: float >= 0, the weight of that KL term (0.01).
    """

    image_size: int
    channels: int
    patch_size: int
    num_classes: int
    hidden_dim: int
    num_heads: int
    intermediate_dim: int
    plan: SharingPlan
    pooling: str = "class_token"
    stem_filters: int | tuple = 0
    stem_pooling: bool = False
    stem_activation: str = "gelu"
    dropout: float = 0.0
    per_depth_norms: bool = True
    lora_rank: int | None = None
    layer_norm_epsilon: float = 1e-6
    depths: tuple = ()
    depth_distillation: float = 0.0
    deepest_share: float | None = None
    depth_sampling: str = "one"
    exit_heads: str = "shared"
    halting_prior: float | None = None
    halting_weight: float = 0.01

    def __post_init__(self):
        object.__setattr__(self, "plan", SharingPlan.coerce(self.plan))
        check_positive_int(
            image_size=self.image_size,
            channels=self.channels,
            patch_size=self.patch_size,
            num_classes=self.num_classes,
            hidden_dim=self.hidden_dim,
            num_heads=self.num_heads,
            intermediate_dim=self.intermediate_dim,
        )
        grid = pooled_size(self.image_size, check_stem(self))
        if grid % self.patch_size:
            raise ValueError(
                "`patch_size` must divide `image_size` (after the stem's pooling: "
                f"{grid}). Received: image_size={self.image_size}, patch_size={self.patch_size}"
            )
        check_heads(self.hidden_dim, self.num_heads)
        if self.pooling not in POOLINGS:
            raise ValueError(f"`pooling` must be one of {POOLINGS}. Received: {self.pooling!r}")
        check_rate(dropout=self.dropout)
        object.__setattr__(self, "depths", check_depths(self.plan, self.depths))
        check_depth_distillation(self.depth_distillation, self.deepest_share, self.depth_sampling)
        check_one_of(exit_heads=(self.exit_heads, EXIT_HEADS))
        check_halting(self)
        check_lora_rank(self)


def tiny(**changes):
    """28x28 grayscale (Fashion-MNIST): a convolutional tokenizer (3x3
    ReLU convolutions of 16, 32 and 64 filters, each followed by a stride-2
    max pooling: a 4x4 grid, 16 tokens), H=64, 4 heads, FFN 128, 8 depths over
    2 groups (`cycle`, ABABABAB), mean pooling, 10 classes."""
    config = ViTConfig(
        image_size=28,
        channels=1,
        patch_size=1,
        num_classes=10,
        hidden_dim=64,
        num_heads=4,
        intermediate_dim=128,
        plan=SharingPlan(8, 2, strategy="cycle"),
        pooling="mean",
        stem_filters=(16, 32, 64),
        stem_pooling=True,
        stem_activation="relu",
    )
    return config.replace(**changes)


def small(**changes):
    """32x32 RGB (CIFAR-10): a 32-filter 3x3 convolutional stem, 4x4 patches
    (64), H=128, 4 heads, FFN 256, 8 depths over 2 groups (`cycle`), 10
    classes."""
    config = ViTConfig(
        image_size=32,
        channels=3,
        patch_size=4,
        num_classes=10,
        hidden_dim=128,
        num_heads=4,
        intermediate_dim=256,
        plan=SharingPlan(8, 2, strategy="cycle"),
        stem_filters=32,
    )
    return config.replace(**changes)


PRESETS = {"tiny": tiny, "small": small}


def preset(name, **changes):
    """Returns the preset `name` (`"tiny"`, `"small"`) with `changes` applied."""
    return select_preset(PRESETS, name, **changes)
