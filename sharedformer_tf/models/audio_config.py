"""Configuration and presets of `AudioClassifier`."""

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
    stem_halvings,
)
from sharedformer_tf.models.vit_config import POOLINGS
from sharedformer_tf.sharing import SharingPlan
from sharedformer_tf.validation import (
    check_heads,
    check_non_negative_int,
    check_positive_int,
    check_rate,
)

NORMALIZATIONS = ("clip", "band")


@dataclasses.dataclass(frozen=True)
class AudioConfig(ConfigDataclass):
    """Shape of a parameter-shared audio Transformer classifier.

    Args:
        sample_rate: int, Hz of the input waveforms.
        clip_samples: int, samples per input clip (16000 = 1 s at 16 kHz).
        frame_length: int, samples per spectrogram frame.
        frame_step: int, samples between frames.
        num_mel_bins: int, mel bands per frame.
        normalization: `"clip"` (each clip's log-mel spectrogram to zero
            mean and unit variance) or `"band"` (each mel band of a clip on
            its own: a fixed coloring of voice or channel cancels); see
            `LogMelSpectrogram(standardize=)`.
        frames_per_patch: int, consecutive frames embedded as one token
            (with every mel band); must divide the number of frames (after
            the stem's pooling).
        num_classes: int.
        hidden_dim: int. Width `H` of the encoder.
        num_heads: int. Must divide `hidden_dim`.
        intermediate_dim: int. Feed-forward width.
        plan: `SharingPlan` of the encoder depths.
        pooling: `"class_token"` or `"mean"`.
        stem_filters: int or tuple: the filters of each 3x3 convolution of a
            stem over the (frames, mel bands) grid before the patch
            projection (0: none, tokens are linear projections of whole
            frames). See `layers.PatchEmbedding`.
        stem_pooling: a stride-2 max pooling after each stem convolution,
            halving frames and bands (a convolutional tokenizer; e.g. 98
            frames x 40 bands -> 49 x 20 -> 25 x 10 after two stages).
        stem_activation: `"gelu"` or `"relu"`, of the stem convolutions.
        dropout: residual and feed-forward dropout.
        per_depth_norms: unshared layer norms at every depth.
        lora_rank: rank of per-depth LoRA deltas of the attention and
            feed-forward kernels (relaxed sharing, `LoRADeltas`), or `None`.
        layer_norm_epsilon: epsilon of every layer norm.
        depths: depths the encoder can also run besides `plan.num_layers`
            (elastic depth: `model.at_depth(n)`, trained with one depth
            drawn per step); `()` (default): none.
        time_masks: SpecAugment time masks per training clip (0: none).
        time_mask_frames: widest time mask, in frames.
        frequency_masks: SpecAugment frequency masks per training clip.
        frequency_mask_bands: widest frequency mask, in mel bands.
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
        halting_prior: float in (0, 1) or `None` (default): learned halting
            (PonderNet) with a geometric prior of this parameter over the
            exits of `depths`, as `ViTConfig.halting_prior` describes.
        halting_weight: float >= 0, the weight of its KL term (0.01).
    """

    sample_rate: int
    clip_samples: int
    frame_length: int
    frame_step: int
    num_mel_bins: int
    frames_per_patch: int
    num_classes: int
    hidden_dim: int
    num_heads: int
    intermediate_dim: int
    plan: SharingPlan
    pooling: str = "class_token"
    stem_filters: int | tuple = 0
    stem_pooling: bool = False
    stem_activation: str = "gelu"
    normalization: str = "clip"
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
    time_masks: int = 0
    time_mask_frames: int = 10
    frequency_masks: int = 0
    frequency_mask_bands: int = 8

    def __post_init__(self):
        object.__setattr__(self, "plan", SharingPlan.coerce(self.plan))
        counts = ("time_masks", "frequency_masks")
        check_positive_int(**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                              if f.type is int and f.name not in counts})  # fmt: skip
        check_stem(self)
        check_non_negative_int(**{name: getattr(self, name) for name in counts})
        if self.clip_samples < self.frame_length:
            raise ValueError(
                "`clip_samples` must be at least `frame_length`. Received: "
                f"clip_samples={self.clip_samples}, frame_length={self.frame_length}"
            )
        frames, _ = self.token_grid
        if frames % self.frames_per_patch:
            raise ValueError(
                f"`frames_per_patch` must divide the {frames} frames of a clip (after the "
                f"stem's pooling). Received: frames_per_patch={self.frames_per_patch}"
            )
        check_heads(self.hidden_dim, self.num_heads)
        if self.pooling not in POOLINGS:
            raise ValueError(f"`pooling` must be one of {POOLINGS}. Received: {self.pooling!r}")
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(
                f"`normalization` must be one of {NORMALIZATIONS}. "
                f"Received: normalization={self.normalization!r}"
            )
        check_rate(dropout=self.dropout)
        object.__setattr__(self, "depths", check_depths(self.plan, self.depths))
        check_depth_distillation(self.depth_distillation, self.deepest_share, self.depth_sampling)
        check_one_of(exit_heads=(self.exit_heads, EXIT_HEADS))
        check_halting(self)
        check_lora_rank(self)

    @property
    def num_frames(self):
        """Spectrogram frames of one clip."""
        return 1 + (self.clip_samples - self.frame_length) // self.frame_step

    @property
    def token_grid(self):
        """`(frames, mel bands)` of the grid the patches are cut from: the
        spectrogram's, halved by each pooling stage of the stem."""
        halvings = stem_halvings(self)
        return (pooled_size(self.num_frames, halvings),
                pooled_size(self.num_mel_bins, halvings))  # fmt: skip


def tiny(**changes):
    """1 s at 16 kHz, 25 ms frames every 10 ms (98), 40 mel bands, a
    convolutional tokenizer (3x3 convolutions of 16 and 32 filters, ReLU,
    each followed by a stride-2 max pooling: 98 x 40 -> 25 x 10), one
    pooled frame a token (25), H=64, 4 heads, FFN 128, 8 depths over 2
    groups (`cycle`), 12 classes (10 commands, unknown, silence);
    SpecAugment in training (2 time masks of <= 5 frames, 2 frequency masks
    of <= 4 mel bands)."""
    # The tokenizer instead of linear projections of two whole frames: on an
    # engine it never heard the keyword model scores higher (benchmarks/
    # RESULTS.md, "Across speech engines": the convolutional tokenizer), and
    # higher again with SpecAugment's narrow masks (the same section).
    config = AudioConfig(
        sample_rate=16000,
        clip_samples=16000,
        frame_length=400,
        frame_step=160,
        num_mel_bins=40,
        frames_per_patch=1,
        num_classes=12,
        hidden_dim=64,
        num_heads=4,
        intermediate_dim=128,
        plan=SharingPlan(8, 2, strategy="cycle"),
        stem_filters=(16, 32),
        stem_pooling=True,
        stem_activation="relu",
        time_masks=2,
        time_mask_frames=5,
        frequency_masks=2,
        frequency_mask_bands=4,
    )
    return config.replace(**changes)


def small(**changes):
    """As `tiny` with 64 mel bands, H=128, FFN 256 (8 depths over 2
    groups)."""
    return tiny(num_mel_bins=64, hidden_dim=128, intermediate_dim=256).replace(**changes)


PRESETS = {"tiny": tiny, "small": small}


def preset(name, **changes):
    """Returns the preset `name` (`"tiny"`, `"small"`) with `changes` applied."""
    return select_preset(PRESETS, name, **changes)
