"""Scoring a model at each depth it can run (elastic depth), the one way
every app's `evaluate` does it."""

import os


def evaluate_depths(model, depth, evaluate, summary_keys, out_dir=None):
    """Scores `model` at `depth` (`None`: at every depth it was trained
    for; a shallower depth of a one-depth model runs with its weights).

    Args:
        model: an `ElasticDepthModel` (a classifier, a language model).
        depth: int or `None`.
        evaluate: `evaluate(model, depth, out_dir)` -> dict of metrics;
            `depth` is `None` for the model's own (plan's) depth, `out_dir`
            is `out_dir` there and `out_dir/depth_N` elsewhere (`None`
            without `out_dir`).
        summary_keys: metric names copied into each `per_depth` row.
        out_dir: optional directory for the evaluation's files.

    Returns:
        The metrics of the asked depth (`None`: the plan's depth) with
        `depth`, and with several depths `per_depth`: one row (`depth` and
        `summary_keys`) per depth.
    """
    own = model.elastic_stack.num_layers
    depths = model.depths if depth is None else (depth,)
    model = model.with_depths(depths)
    rows, main = [], None
    for n in depths:
        where = out_dir if out_dir is None or n == own else os.path.join(out_dir, f"depth_{n}")
        result = {"depth": n, **evaluate(model, None if n == own else n, where)}
        rows.append({key: result[key] for key in ("depth", *summary_keys)})
        if n == own or main is None:
            main = result
    if len(rows) > 1:
        main["per_depth"] = rows
    return main
