"""From a trained model to one with fewer stored weights: `to_shared`."""

from sharedformer_tf.convert import keras_hub_conversion
from sharedformer_tf.convert.block_copy import copy_blocks, relaxation_ids, set_lora
from sharedformer_tf.models.patch_classifier import PatchClassifier
from sharedformer_tf.models.seq2seq_transformer import Seq2SeqTransformer
from sharedformer_tf.models.shared_causal_lm import SharedCausalLM
from sharedformer_tf.sharing.sharing_plan import SharingPlan

INITS = ("stepwise", "average", "lower")
RELAXATIONS = (None, "adapter", "lora")
SUPPORTED = (
    "Seq2SeqTransformer, SharedCausalLM, ViTClassifier, AudioClassifier and keras-hub "
    "functional models built from TransformerEncoder or TransformerDecoder layers "
    "(e.g. BertBackbone, GPT2Backbone)"
)


def _plan_fields(model):
    """`{stack attribute: config field of its plan}` of a supported model."""
    if isinstance(model, Seq2SeqTransformer):
        return {"encoder": "encoder_plan", "decoder": "decoder_plan"}
    if isinstance(model, SharedCausalLM):
        return {"decoder": "plan"}
    if isinstance(model, PatchClassifier):
        return {"encoder": "plan"}
    raise ValueError(f"`to_shared` converts {SUPPORTED}. Received: a model of type "
                     f"{type(model).__name__}")  # fmt: skip


def to_shared(
    model, plan, init="stepwise", relax=None, rank=None, decoder_plan=None, per_depth_norms=None
):
    """A new model of `model`'s family whose stack follows `plan`, its
    weights taken from `model` (Relaxed Recursive Transformers' conversion
    of a trained model into a looped one).

    The source may be unshared (`--sharing none`) or shared: the source
    layer "at depth `d`" is the instance its stack calls at depth `d`. Each
    target instance (a sublayer of a group, or a depth's own norms and
    adapter) serves the depths the plan gives it, and takes:

    - `"stepwise"`: for the `g`-th of `K` groups of its kind (in the order
      of first use), the source layer at depth `g * L // K` (evenly spaced
      layers from the first; `L` depths);
    - `"average"`: the element-wise mean of the source layers at the
      depths it serves;
    - `"lower"`: the source layer at depth `g` (the first `K` layers).

    A depth's own state (layer norms with `per_depth_norms`, adapters) is
    its single group, so it comes from the same depth of the source under
    every init; everything outside the stacks' blocks (embeddings, heads,
    output norms, depth embeddings) is copied. With a `plan` of strategy
    `"none"` the result computes exactly what `model` does.

    Args:
        model: a `Seq2SeqTransformer`, `SharedCausalLM`, `ViTClassifier` or
            `AudioClassifier` (without encoder-decoder tying), or a keras-hub
            functional model whose transformer layers are one chain of
            `TransformerEncoder` or `TransformerDecoder` layers without
            cross-attention (`BertBackbone`, `GPT2Backbone`, or a model of
            your own built from them).
        plan: `SharingPlan` (or its config) for the stack; with as many
            depths as the source's stack. A `Seq2SeqTransformer`'s encoder.
        init: `"stepwise"`, `"average"` or `"lower"`.
        relax: `None`; `"adapter"`: every depth gets a feed-forward
            adapter of width `rank` beside the shared feed-forward network
            (zero at first, so the converted model starts as the plain
            shared one); or `"lora"`: every depth gets `LoRADeltas` of rank
            `rank` over the kernels of its attention and feed-forward
            sublayers, set to the truncated SVD of (the source's kernel at
            that depth - the shared kernel), with the bias difference as
            its bias offset, and keeps its own layer norms
            (`per_depth_norms=True`). At full rank (`rank` >= the hidden
            size) the converted model computes what `model` does; at rank
            0 it is the plain shared model (no deltas).
        rank: int, the adapter width or LoRA rank (`relax` set).
        decoder_plan: a `Seq2SeqTransformer`'s decoder plan (`None`: `plan`).
            Its explicit cross-attention assignments (`plan.with_assignments(
            cross_attention=(0,) * depth)`: one cross-attention for every
            depth) are converted like any other sublayer.
        per_depth_norms: bool or `None` (the source's). `False`: the layer
            norms join their sublayers' groups and are set by `init` like
            them (fewer stored weights); `relax="lora"` needs them per depth.

    Returns:
        The converted model (same class, dtype policy and name). For a
        keras-hub model: a functional `keras.Model` with its inputs and
        outputs whose chain of transformer layers is one `SharedEncoder` or
        causal `SharedDecoder` (`get_layer("shared_stack")`; see
        `convert.keras_hub_conversion`), every other layer a copy.

    Example:

    >>> from sharedformer_tf.models import SharedCausalLM, causal_lm_config
    >>> teacher = SharedCausalLM(causal_lm_config.tiny(vocabulary_size=20,
    ...     hidden_dim=8, num_heads=2, intermediate_dim=16,
    ...     plan=SharingPlan(4, strategy="none")))
    >>> student = to_shared(teacher, SharingPlan(4, 2, strategy="cycle"))
    >>> student.count_params() < teacher.count_params()
    True
    """
    if init not in INITS:
        raise ValueError(f"`init` must be one of {INITS}. Received: init={init!r}")
    if relax not in RELAXATIONS:
        raise ValueError(f"`relax` must be one of {RELAXATIONS}. Received: relax={relax!r}")
    if (relax is None) != (rank is None):
        raise ValueError(f"`rank` goes with relax='adapter' or 'lora'. Received: "
                         f"relax={relax!r}, rank={rank!r}")  # fmt: skip
    if relax is not None and (isinstance(rank, bool) or not isinstance(rank, int)
                              or rank < (relax == "adapter")):  # fmt: skip
        raise ValueError(f"`rank` must be an int >= {int(relax == 'adapter')} with "
                         f"relax={relax!r}. Received: rank={rank!r}")  # fmt: skip
    if per_depth_norms is not None and not isinstance(per_depth_norms, bool):
        raise ValueError(f"`per_depth_norms` must be None, True or False. Received: "
                         f"per_depth_norms={per_depth_norms!r}")  # fmt: skip
    if relax == "lora" and rank and per_depth_norms is False:
        raise ValueError("LoRA deltas keep every depth's own layer norms (what makes full rank "
                         "exact). Received: relax='lora', per_depth_norms=False")  # fmt: skip
    if keras_hub_conversion.transformer_layers(model):
        if decoder_plan is not None:
            raise ValueError("A keras-hub model has one stack: it takes `plan` only. Received: "
                             f"decoder_plan={decoder_plan!r}")  # fmt: skip
        return keras_hub_conversion.convert(model, SharingPlan.coerce(plan), init, relax, rank,
                                            per_depth_norms)  # fmt: skip
    fields = _plan_fields(model)
    config = model.config
    if getattr(config, "lora_rank", None) is not None:
        raise ValueError("`to_shared` converts models without LoRA deltas (their layers differ "
                         f"per depth from the shared weights). Received: lora_rank="
                         f"{config.lora_rank}")  # fmt: skip
    if getattr(config, "share_encoder_decoder", False):
        raise ValueError("`to_shared` converts encoder and decoder separately. Received: a "
                         "model with share_encoder_decoder=True")  # fmt: skip
    plans = {"encoder_plan": plan, "decoder_plan": plan if decoder_plan is None else decoder_plan,
             "plan": plan}  # fmt: skip
    changes = {}
    for stack, field in fields.items():
        new = SharingPlan.coerce(plans[field])
        depth = getattr(model, stack).num_layers
        if new.num_layers != depth:
            raise ValueError(f"The converted {stack} keeps the source's {depth} depths. "
                             f"Received: a plan of {new.num_layers} depths ({new})")  # fmt: skip
        changes[field] = new
    if relax == "adapter":
        if not hasattr(config, "adapter_dim"):
            raise ValueError(f"A {type(model).__name__} has no adapters; relax it with "
                             "relax='lora'. Received: relax='adapter'")  # fmt: skip
        changes["adapter_dim"] = rank
    if per_depth_norms is not None:
        changes["per_depth_norms"] = per_depth_norms
    if relax == "lora" and rank:
        changes.update(lora_rank=rank, per_depth_norms=True)
    target = type(model)(config.replace(**changes), dtype=model.dtype_policy, name=model.name)
    pairs = [(name, getattr(target, name), getattr(model, name)) for name in fields]
    assigned = copy_blocks(pairs, init)
    if relax == "lora" and rank:
        assigned |= set_lora(pairs)
    fresh = relaxation_ids([stack for _, stack, _ in pairs])  # new: they start at zero
    sources = {v.path: v for v in model.weights}
    for variable in target.weights:
        if id(variable) in assigned:
            continue
        source = sources.get(variable.path)
        if source is not None and tuple(source.shape) == tuple(variable.shape):
            variable.assign(source)
        elif id(variable) not in fresh:
            raise ValueError(f"No source weight for {variable.path} {tuple(variable.shape)} in "
                             f"the {type(model).__name__} converted")  # fmt: skip
    return target
