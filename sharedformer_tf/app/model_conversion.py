"""What the apps' `convert` subcommands share: the flags, the target plan
and the distiller that uptrains the converted model from its source."""

import logging
import os

from sharedformer_tf import training
from sharedformer_tf.app import flags
from sharedformer_tf.app.classifier_steps import save_training_outputs
from sharedformer_tf.app.training_run import TrainingRun
from sharedformer_tf.convert import Distiller, to_shared
from sharedformer_tf.convert.shared_conversion import INITS
from sharedformer_tf.sharing import SharingPlan

log = logging.getLogger("convert")


def add_conversion_flags(parser):
    """`--model` (the trained source, the teacher), `--init`, `--relax`,
    `--rank`, `--distill-alpha` and `--temperature`; the app adds its
    sharing flags (the target plan) and training flags."""
    parser.add_argument("--model", required=True, help="the trained model (the teacher)")
    parser.add_argument(
        "--init",
        choices=INITS,
        default="stepwise",
        help="where each group gets its weights (see convert.to_shared)",
    )
    parser.add_argument("--relax", choices=("lora", "adapter"),
                        help="give every depth LoRA deltas of rank --rank (from the SVD of what "
                             "its layer differs by) or an adapter of width --rank")  # fmt: skip
    parser.add_argument("--rank", type=flags.positive_int, help="the LoRA rank or adapter width")
    parser.add_argument("--distill-alpha", type=flags.weight, default=0.5,
                        help="weight of KL(teacher || student) in the loss")  # fmt: skip
    parser.add_argument("--temperature", type=flags.positive_float, default=2.0)


def conversion_options(args, num_layers):
    """`to_shared`'s arguments from the flags: the sharing flags' plan
    (default: `cycle_rev` over half the source's `num_layers` depths) and
    `--[no-]per-depth-norms`; with the translator's `--share-cross-attention`,
    a decoder plan whose one cross-attention serves every depth."""
    plan = flags.plan_from_flags(args, SharingPlan(num_layers, max(1, num_layers // 2),
                                                   "cycle_rev"))  # fmt: skip
    options = dict(plan=plan, init=args.init, relax=args.relax, rank=args.rank,
                   per_depth_norms=args.per_depth_norms)  # fmt: skip
    if getattr(args, "share_cross_attention", None):
        options["decoder_plan"] = plan.with_assignments(cross_attention=(0,) * plan.num_layers)
    return options


def conversion_record(args):
    """The `conversion` section of the converted run's `config.json`."""
    return {"teacher": os.path.abspath(args.model), "init": args.init, "relax": args.relax,
            "rank": args.rank, "distill_alpha": args.distill_alpha,
            "temperature": args.temperature}  # fmt: skip


def conversion_distiller(source, options, args):
    """`Distiller(to_shared(source, **options), source)` with the flags'
    alpha and temperature (build it in the strategy's scope)."""
    return Distiller(to_shared(source, **options), source, args.distill_alpha, args.temperature)


def convert_classifier(args, load, datasets):
    """A classifier app's `convert`: `to_shared` on the trained classifier
    `--model` with the sharing flags' plan, then `--epochs` of distillation
    from it (`Distiller`) into `--out`, saved as `train` saves.

    Args:
        args: the parsed flags (`add_conversion_flags`,
            `add_classifier_training_flags`, `--data`: `None` for the
            teacher's training SPEC).
        load: `args -> (model, run config, model config)` of `--model`.
        datasets: `(args, model config, class names, global batch size) ->
            (train_ds, valid_ds or None, training section of config.json)`;
            checks the data before anything is written.
    """
    run = TrainingRun(args)
    teacher, saved, config = load(args)
    options = conversion_options(args, config.plan.num_layers)
    config = to_shared(teacher, **options).config  # bad flags fail before the data is read
    args.data, names = args.data or saved["run"]["data"], saved["class_names"]
    train_ds, valid_ds, section = datasets(args, config, names, run.global_batch_size)
    run.prepare()
    run.open(config, class_names=names, training=section, conversion=conversion_record(args))
    steps = int(train_ds.cardinality()) * args.epochs
    log.info("Converted to %s (%s init); distilling for %d epochs, alpha %g, temperature %g",
             options["plan"], args.init, args.epochs, args.distill_alpha,
             args.temperature)  # fmt: skip

    def build(jit_compile):  # in the strategy's scope: the teacher's variables too
        distiller = conversion_distiller(load(args)[0], options, args)
        return training.compile_classifier(distiller, steps, args.learning_rate,
                                           args.warmup_steps, args.weight_decay,
                                           jit_compile=jit_compile)  # fmt: skip

    run.finish(run.fit(build, train_ds, valid_ds).student, save_training_outputs)
