"""`parameter_report`: stored versus effective parameters of a model."""

import math

import keras

from sharedformer_tf.stacks.shared_stack import SharedStack

_SUBLAYERS = ("self_attention", "cross_attention", "feed_forward")


def _size(variable):
    return int(math.prod(variable.shape))


def _unique(variables):
    seen, result = set(), []
    for v in variables:
        if id(v) not in seen:
            seen.add(id(v))
            result.append(v)
    return result


def _find_stacks(layer, found):
    if isinstance(layer, SharedStack):
        if all(layer is not s for s in found):
            found.append(layer)
        return found
    children = layer.layers if isinstance(layer, keras.Model) else []
    for child in children:
        _find_stacks(child, found)
    return found


class ParameterReport(dict):
    """A `dict` of parameter counts that prints as a table.

    Keys: `unique_params` (scalars stored), `effective_params` (scalars an
    unshared model of the same depths would store), `ratio` (unique /
    effective), `fp32_bytes` and `effective_fp32_bytes`,
    `relaxation_params` (of those stored, the per-depth adapters and LoRA
    deltas), `stacks` (plan of each stack) and `groups` (one row per
    sublayer instance in a stack: which depths call it and its size).
    """

    def __str__(self):
        lines = [
            f"{'stack':<10} {'sublayer':<16} {'group':>5}  {'depths':<18} "
            f"{'params':>12}  stored in",
        ]
        for row in self["groups"]:
            depths = ",".join(str(d) for d in row["depths"])
            lines.append(
                f"{row['stack']:<10} {row['sublayer']:<16} {row['group']:>5}  "
                f"{depths:<18} {row['params']:>12,}  {row['owner']}"
            )
        lines.append("")
        for stack in self["stacks"]:
            lines.append(f"{stack['name']}: {stack['plan']}  assignments={stack['assignments']}")
        lines.append(
            f"unique parameters:    {self['unique_params']:>12,}  "
            f"({self['fp32_bytes'] / 2**20:.2f} MiB fp32)"
        )
        lines.append(
            f"effective parameters: {self['effective_params']:>12,}  "
            f"({self['effective_fp32_bytes'] / 2**20:.2f} MiB fp32)"
        )
        if self["relaxation_params"]:
            lines.append(f"of which per-depth adapters and LoRA deltas: "
                         f"{self['relaxation_params']:,}")  # fmt: skip
        lines.append(
            f"stored / effective:   {self['ratio']:.3f}  ({1 / self['ratio']:.2f}x fewer stored)"
        )
        return "\n".join(lines)


def parameter_report(model):
    """Counts stored and effective parameters of a built model or layer.

    Stored (`unique_params`) counts every variable once, however many depths
    call it. Effective (`effective_params`) counts each `SharedStack` depth's
    block weights once per depth, as an unshared model of the same depths
    would store them (a decoder tied to its encoder counts the shared
    sublayers in both stacks); weights outside the stacks count once.

    Args:
        model: a built `keras.Model` or `keras.layers.Layer`.

    Returns:
        `ParameterReport`, a dict with `unique_params`, `effective_params`,
        `ratio`, `fp32_bytes`, `effective_fp32_bytes`, `relaxation_params`,
        `stacks` and `groups`;
        `print(report)` shows a table.

    Example:

    >>> from sharedformer_tf import SharingPlan
    >>> from sharedformer_tf.stacks import SharedEncoder
    >>> encoder = SharedEncoder(SharingPlan(4, 2, strategy="cycle"), num_heads=2,
    ...                         intermediate_dim=16)
    >>> encoder.build((None, None, 8))
    >>> report = parameter_report(encoder)
    >>> report["unique_params"] < report["effective_params"]  # 4 depths, 2 stored blocks
    True
    """
    if not model.built:
        raise ValueError(
            "`parameter_report` needs a built model; call it on data or "
            f"`build()` it first. Received: unbuilt {type(model).__name__} "
            f"{model.name!r}"
        )
    variables = _unique(model.weights)
    unique = sum(_size(v) for v in variables)
    stacks = _find_stacks(model, [])
    in_blocks = set()
    per_depth = 0
    stack_rows, group_rows = [], []
    owner_of = {}
    for stack in stacks:
        for block in stack.blocks:
            for v in _unique(block.weights):
                in_blocks.add(id(v))
            per_depth += sum(_size(v) for v in _unique(block.weights))
        stack_rows.append(
            {
                "name": stack.name,
                "plan": stack.plan.get_config(),
                "assignments": list(stack.plan.assignments),
            }
        )
        for name in _SUBLAYERS:
            if not hasattr(stack.blocks[0], name):
                continue
            assignments = stack.sublayer_assignments(name)
            for group in sorted(set(assignments)):
                depths = [d for d, g in enumerate(assignments) if g == group]
                layer = getattr(stack.blocks[depths[0]], name)
                owner_of.setdefault(id(layer), stack.name)
                group_rows.append(
                    {
                        "stack": stack.name,
                        "sublayer": name,
                        "group": group,
                        "depths": depths,
                        "params": sum(_size(v) for v in _unique(layer.weights)),
                        "owner": owner_of[id(layer)],
                    }
                )
    outside = sum(_size(v) for v in variables if id(v) not in in_blocks)
    relaxation = sum(_size(v) for v in _unique(v for stack in stacks
                                               for v in stack.relaxation_weights()))  # fmt: skip
    effective = outside + per_depth
    return ParameterReport(
        unique_params=unique,
        effective_params=effective,
        ratio=unique / effective if effective else 1.0,
        fp32_bytes=4 * unique,
        effective_fp32_bytes=4 * effective,
        relaxation_params=relaxation,
        stacks=stack_rows,
        groups=group_rows,
    )
