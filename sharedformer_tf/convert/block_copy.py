"""Setting a converted stack's blocks from the source's layers: the one
mapping behind `to_shared` for the project's models and keras-hub chains."""

import numpy as np

from sharedformer_tf.layers.transformer_block import LORA_SUBLAYERS, SUBLAYER_NAMES

# What a block calls at each depth and the state beside it; LoRA deltas are
# not copied but set from the difference (`set_lora`).
SUBLAYERS = tuple(name for name in SUBLAYER_NAMES if not name.endswith("_lora"))


def relaxation_ids(stacks):
    """Ids of the variables of the per-depth relaxations (adapters, LoRA
    deltas) of `stacks`: weights a conversion adds rather than takes."""
    return {id(v) for stack in stacks for v in stack.relaxation_weights()}


def copy_blocks(pairs, init):
    """Sets every sublayer of the blocks of each target stack of `pairs`
    (`[(name, target stack, source stack)]`) by `init`; returns the ids of
    the variables it set."""
    assigned = set()
    for stack_name, mine, theirs in pairs:
        depth = mine.num_layers
        blocks, source_blocks = mine.blocks_at(depth), theirs.blocks_at(depth)
        extra = list(zip(mine.extra_blocks, theirs.extra_blocks, strict=False))
        for name in SUBLAYERS:
            served = {}  # instance id -> (instance, depths it serves), in order of first use
            for position, block in enumerate(blocks):
                layer = getattr(block, name, None)
                if layer is not None:
                    served.setdefault(id(layer), (layer, []))[1].append(position)
            count = len(served)
            for group, (layer, depths) in enumerate(served.values()):
                picked = {"average": depths, "stepwise": [group * depth // count],
                          "lower": [group]}[init]  # fmt: skip
                found = [getattr(source_blocks[d], name, None) for d in picked]
                if any(f is None for f in found):
                    if name == "adapter":
                        continue  # a new relaxation: starts at zero
                    raise ValueError(f"The source {stack_name} has no {name} at depths {picked}")
                _set_mean(layer, [f.get_weights() for f in found], f"{stack_name} {name}")
                assigned.update(id(v) for v in layer.weights)
            for block, source_block in extra:  # positions beyond the plan: their own state
                layer, found = getattr(block, name, None), getattr(source_block, name, None)
                if layer is not None and found is not None and block.name == source_block.name:
                    _set_mean(layer, [found.get_weights()], f"{stack_name} {name}")
                    assigned.update(id(v) for v in layer.weights)
    return assigned


def set_lora(pairs):
    """Sets each depth's LoRA deltas to what the source's layer at that
    depth differs by from the shared one; returns the ids of their variables."""
    assigned = set()
    for _, mine, theirs in pairs:
        blocks = mine.blocks_at(mine.num_layers)
        for block, source_block in zip(blocks, theirs.blocks_at(mine.num_layers), strict=True):
            for name in LORA_SUBLAYERS:
                deltas = block.lora(name)
                if deltas is None:
                    continue
                shared, original = getattr(block, name), getattr(source_block, name)
                for dense in deltas.kernel_shapes:
                    new, old = getattr(shared, dense), getattr(original, dense)
                    deltas.set_delta(
                        dense,
                        np.asarray(old.kernel, "float64") - np.asarray(new.kernel, "float64"),
                        np.asarray(old.bias, "float64") - np.asarray(new.bias, "float64"),
                    )
                assigned.update(id(v) for v in deltas.weights)
    return assigned


def _set_mean(layer, weight_lists, what):
    shapes = [tuple(w.shape) for w in layer.get_weights()]
    for weights in weight_lists:
        if [tuple(w.shape) for w in weights] != shapes:
            raise ValueError(f"The source's {what} has weights of shapes "
                             f"{[tuple(w.shape) for w in weights]}; the converted model's are "
                             f"{shapes}")  # fmt: skip
    layer.set_weights([np.mean(parts, axis=0) for parts in zip(*weight_lists, strict=True)])
