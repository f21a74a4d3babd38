"""Command-line helpers shared by the apps: flag types, sharing and device
flags, and error reporting."""

import argparse
import logging
import sys

from sharedformer_tf.sharing import SCOPES, STRATEGIES
from sharedformer_tf.stacks.shared_decoder import KV_SHARING


def positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def int_at_least(minimum):
    """argparse type factory: an integer >= `minimum`."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        return value

    return parse


def _float_in(text, low, high, low_inclusive, description, high_inclusive=False):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    above = value >= low if low_inclusive else value > low
    below = value <= high if high_inclusive else value < high
    if not (above and below):
        raise argparse.ArgumentTypeError(f"must be {description}, got {text!r}")
    return value


def positive_float(text):
    """argparse type: a finite float > 0 (e.g. a learning rate)."""
    return _float_in(text, 0.0, float("inf"), False, "a positive number")


def non_negative_float(text):
    """argparse type: a finite float >= 0 (e.g. a weight decay)."""
    return _float_in(text, 0.0, float("inf"), True, "a number >= 0")


def fraction(text):
    """argparse type: a float in [0, 1) (e.g. label smoothing)."""
    return _float_in(text, 0.0, 1.0, True, "a number in [0, 1)")


def open_fraction(text):
    """argparse type: a float in (0, 1) (e.g. a share of the steps)."""
    return _float_in(text, 0.0, 1.0, False, "a number in (0, 1)")


def weight(text):
    """argparse type: a float in [0, 1] (e.g. a loss term's weight)."""
    return _float_in(text, 0.0, 1.0, True, "a number in [0, 1]", high_inclusive=True)


MAX_DEPTH = 256  # a typo such as 4,6,800 must not build hundreds of blocks


def depth_list(text):
    """argparse type: comma-separated depths such as `4,6,8`, at most
    `MAX_DEPTH`."""
    depths = tuple(positive_int(part) for part in text.split(","))
    if max(depths) > MAX_DEPTH:
        raise argparse.ArgumentTypeError(f"depths must be at most {MAX_DEPTH}, got {text!r}")
    return tuple(sorted(set(depths)))


def add_depth_flags(train, *runs, exits=(), exit_heads=False, token_exits=None):
    """`train --depths 4,6,8` (elastic depth: the depths the model learns to
    run besides its plan's) and `--depth-distillation W`, `--depth N` on each command of `runs` (one
    depth; an `evaluate` without it scores every depth the model was
    trained for), `--exit-thresholds P,...` on each command of `exits`
    (early exit by confidence), with `exit_heads`, `train --exit-heads
    shared|per_depth` and `--halting P` (learned halting), and with
    `token_exits=(evaluate, run)` a decoder's per-token early exit:
    `evaluate --exit-thresholds C,...` and `run --exit-threshold C`."""
    train.add_argument("--depths", type=depth_list, default=(),
                       help="also train to run at these depths, one drawn per step "
                       "(elastic depth), e.g. 4,6")  # fmt: skip
    train.add_argument("--deepest-share", type=open_fraction, metavar="P",
                       help="with --depths: the share of steps at the deepest depth (default: "
                       "every depth alike)")  # fmt: skip
    train.add_argument("--depth-sampling", choices=("one", "sandwich"), default="one",
                       help="with --depths: one drawn depth per step (default), or sandwich: "
                       "the deepest depth and one drawn shallower depth each step, their "
                       "losses summed (up to twice the compute per step)")  # fmt: skip
    train.add_argument("--depth-distillation", type=non_negative_float, default=0.0, metavar="W",
                       help="with --depths: a step at a shallower depth also learns the deepest "
                       "depth's outputs (KL, weight W; default 0: off)")  # fmt: skip
    if exit_heads:
        train.add_argument("--exit-heads", choices=("shared", "per_depth"), default="shared",
                           help="with --depths: one classification head for every depth, or "
                           "one per depth")  # fmt: skip
        train.add_argument("--halting", type=open_fraction, metavar="P",
                           help="with --depths: learned halting (PonderNet): each step trains "
                           "every exit with the halting loss, a geometric prior of parameter P "
                           "over the exits; early exit then follows the learned halting "
                           "probability")  # fmt: skip
    for command in runs:
        command.add_argument("--depth", type=positive_int,
                             help="run the model at N depths (evaluate's default: every depth "
                             "it was trained for, one row each)")  # fmt: skip
    for command in exits:
        command.add_argument("--exit-thresholds", type=threshold_list, metavar="P,P,...",
                             help="also score early exit: each input leaves at the first "
                             "depth whose top class probability (with --halting: cumulative "
                             "halting probability) is above P")  # fmt: skip
    if token_exits:
        evaluate, run = token_exits
        evaluate.add_argument("--exit-thresholds", type=change_list, metavar="C,C,...",
                              help="also score per-token early exit (a model trained with "
                              "--depths): a token leaves at the first depth where the depth "
                              "before it changed its hidden state by less than C of its "
                              "norm")  # fmt: skip
        run.add_argument(
            "--exit-threshold",
            type=non_negative_float,
            metavar="C",
            help="per-token early exit (see evaluate --exit-thresholds)",
        )


def depth_config(args):
    """The config fields of `add_depth_flags`' training flags, checked:
    `{"depths": ..., "depth_distillation": ...}`."""
    if args.depth_distillation and not args.depths:
        raise ValueError(
            "--depth-distillation needs --depths (a model trained at several "
            f"depths). Received: --depth-distillation {args.depth_distillation}"
        )
    if args.deepest_share is not None and not args.depths:
        raise ValueError(f"--deepest-share needs --depths (a model trained at several depths). "
                         f"Received: --deepest-share {args.deepest_share}")  # fmt: skip
    if args.depth_sampling != "one" and not args.depths:
        raise ValueError(f"--depth-sampling {args.depth_sampling} needs --depths (a model "
                         "trained at several depths)")  # fmt: skip
    if args.depth_sampling == "sandwich" and args.deepest_share is not None:
        raise ValueError(
            "--depth-sampling sandwich runs the deepest depth every step: drop "
            f"--deepest-share. Received: --deepest-share {args.deepest_share}"
        )
    fields = {
        "depths": args.depths,
        "depth_distillation": args.depth_distillation,
        "deepest_share": args.deepest_share,
        "depth_sampling": args.depth_sampling,
    }
    if getattr(args, "halting", None) is not None:
        if not args.depths:
            raise ValueError(f"--halting needs --depths (the depths to exit after). "
                             f"Received: --halting {args.halting}")  # fmt: skip
        if (args.depth_distillation or args.deepest_share is not None
                or args.depth_sampling != "one"):  # fmt: skip
            raise ValueError("--halting trains every exit each step: drop --depth-distillation, "
                             "--deepest-share and --depth-sampling")  # fmt: skip
        fields["halting_prior"] = args.halting
    if getattr(args, "exit_heads", "shared") != "shared":
        if not args.depths:
            raise ValueError(f"--exit-heads {args.exit_heads} needs --depths (a model trained at "
                             "several depths)")  # fmt: skip
        fields["exit_heads"] = args.exit_heads
    return fields


def threshold_list(text):
    """argparse type: comma-separated probabilities in (0, 1]."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if not values or not all(0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected probabilities in (0, 1] such as 0.8,0.9, "
                                         f"got {text!r}")  # fmt: skip
    return values


def change_list(text):
    """argparse type: comma-separated numbers >= 0 such as `0.05,0.1`
    (per-token exit thresholds: a fraction of the hidden state's norm)."""
    try:
        values = tuple(non_negative_float(part) for part in text.split(","))
    except argparse.ArgumentTypeError:
        values = ()
    if not values:
        raise argparse.ArgumentTypeError(f"expected numbers >= 0 such as 0.05,0.1, got {text!r}")
    return values


# Attributes that `add_sharing_flags` adds to the parsed arguments.
SHARING_FLAGS = ("layers", "groups", "groups_ffn", "sharing", "share_scope", "per_depth_norms")


def add_classifier_training_flags(parser, epochs, batch_size):
    """What a classifier app's `train` and `convert` take alike: `--out`,
    `--epochs`, the sharing flags, the optimizer's (`--batch-size` per
    replica, `--learning-rate`, `--warmup-steps`, `--weight-decay`),
    `--no-jit`, the distribution flags and `--overwrite`."""
    parser.add_argument("--out", required=True, help="directory for model, config, report, plots")
    parser.add_argument("--epochs", type=positive_int, default=epochs)
    add_sharing_flags(parser)
    parser.add_argument("--batch-size", type=positive_int, default=batch_size, help="per replica")
    parser.add_argument("--learning-rate", type=positive_float, default=2e-3)
    parser.add_argument("--warmup-steps", type=positive_int)
    parser.add_argument("--weight-decay", type=non_negative_float, default=0.05)
    parser.add_argument("--no-jit", action="store_true", help="do not XLA-compile the train step")
    add_distribution_flags(parser)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a finished model in --out")  # fmt: skip


def add_sharing_flags(parser):
    """`--layers N --groups M --groups-ffn M --sharing STRATEGY --share-scope
    SCOPE --[no-]per-depth-norms` (`--unique`, `--unique-ffn`: former names
    of `--groups`, `--groups-ffn`)."""
    group = parser.add_argument_group("parameter sharing (default: the preset's plan)")
    group.add_argument("--layers", type=positive_int, help="depths per stack")
    group.add_argument("--groups", "--unique", type=positive_int, dest="groups",
                       help="parameter groups per stack (--unique: former name)")  # fmt: skip
    group.add_argument("--groups-ffn", "--unique-ffn", type=positive_int, dest="groups_ffn",
                       help="feed-forward groups, if not --groups")  # fmt: skip
    group.add_argument("--sharing", choices=STRATEGIES, help="sharing strategy")
    group.add_argument("--share-scope", choices=SCOPES, help="sublayers that are shared")
    group.add_argument("--per-depth-norms", action=argparse.BooleanOptionalAction,
                       help="every depth its own layer norms (default: the preset's, on); "
                       "off: the norms are shared with their group's sublayers")  # fmt: skip
    return group


def add_kv_sharing_flag(parser):
    """`--kv-sharing none|group` of the apps with a decoder (default: the
    preset's, `none`)."""
    parser.add_argument("--kv-sharing", choices=KV_SHARING,
                        help="decoder depths of a self-attention group share its first depth's "
                        "keys/values and one cache slot")  # fmt: skip


def add_distribution_flags(parser):
    """`--strategy NAME --precision POLICY --xla-attention MODE` (see
    `sharedformer_tf.distribute` and `sharedformer_tf.layers.xla_attention`)."""
    from sharedformer_tf.distribute import PRECISIONS, STRATEGY_NAMES

    group = parser.add_argument_group("devices and precision")
    group.add_argument(
        "--strategy",
        choices=STRATEGY_NAMES,
        default="auto",
        help="tf.distribute strategy (auto: TPU if found, mirrored if several GPUs, "
        "else one device); multi_worker reads the cluster from TF_CONFIG",
    )
    group.add_argument(
        "--precision", choices=PRECISIONS, default="float32", help="Keras dtype policy"
    )
    group.add_argument(
        "--xla-attention",
        choices=("on", "off"),
        default="on",
        help="XLA-compile the variable-free attention core, also where the whole train "
        "step is not compiled (multi-replica strategies)",
    )
    return group


def setup_devices(args):
    """Applies the flags of `add_distribution_flags`: makes the strategy
    first (it sets up workers or a TPU), then sets the dtype policy and the
    attention-core XLA mode, and logs where training runs.

    Returns:
        The `tf.distribute.Strategy`.
    """
    from sharedformer_tf import distribute
    from sharedformer_tf.layers import xla_attention

    strategy = distribute.make_strategy(args.strategy)
    distribute.set_precision(args.precision)
    xla_attention.set_xla_attention(args.xla_attention)
    logging.getLogger("sharedformer_tf").info(
        "Training with %s", distribute.worker_description(strategy)
    )
    return strategy


def plan_from_flags(args, plan):
    """`plan` with the sharing flags of `args` applied."""
    return plan.replace(args.layers, args.groups, args.sharing, args.share_scope, args.groups_ffn)


def sharing_config(args):
    """The config fields the sharing flags set beside the plan:
    `{"per_depth_norms": ...}` when given, else `{}` (the preset's)."""
    return {} if args.per_depth_norms is None else {"per_depth_norms": args.per_depth_norms}


def run(commands, parser, args):
    """Runs `commands[args.command]` (or `commands[None]`), turning bad input
    (`ValueError`, `FileNotFoundError`, `TypeError`) into a one-line error
    and exit status 2 instead of a traceback. A multi-worker run whose
    cluster lost a worker exits with status 3 and says how to resume."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return commands[args.command](args)
    except (ValueError, FileNotFoundError, TypeError) as error:
        parser.exit(2, f"error: {error}\n")
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:
        if not _lost_worker(error):
            raise
        lines = str(error).strip().splitlines() or [""]
        reason = next((line for line in lines if "unhealthy" in line), lines[0])
        parser.exit(
            3,
            f"error: the training cluster lost a worker ({type(error).__name__}: "
            f"{reason[:300]}).\nRestart every worker with the "
            "same command: training resumes from the last backup in the output directory.\n",
        )


def _lost_worker(error):
    """Whether `error` is TensorFlow reporting that a peer of a multi-worker
    cluster stopped (collectives aborted)."""
    import tensorflow as tf

    return isinstance(error, (tf.errors.UnavailableError, tf.errors.AbortedError))
