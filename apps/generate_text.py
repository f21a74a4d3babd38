"""Train, evaluate, sample and export a parameter-shared language model.

    python apps/generate_text.py             # demo: bible:en, train, evaluate, export, samples
    python apps/generate_text.py train --data SPEC --out DIR [--preset tiny|small] ...
    python apps/generate_text.py convert --model DIR --out DIR [--sharing S --groups M] [--init I]
                                         [--relax lora|adapter --rank R] [--epochs N]
    python apps/generate_text.py evaluate --model DIR [--data SPEC] [--split test]
                                          [--depth N] [--exit-thresholds C,...]
    python apps/generate_text.py generate --model DIR [--prompt TEXT] [--max-tokens N]
                                          [--sampler greedy|top_k|top_p|random] [--seed S]
                                          [--depth N] [--exit-threshold C]
    python apps/generate_text.py export --model DIR [--tflite fp32|fp16|dynamic-int8|all]

SPEC: bible[:en|es] | text:FILE | tfds:NAME (see sharedformer_tf.data.text_documents)
"""

import argparse
import json
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import absl.logging  # noqa: E402
import keras_hub  # noqa: E402
import tensorflow as tf  # noqa: E402

from sharedformer_tf import app, distribute, training  # noqa: E402
from sharedformer_tf.app import flags  # noqa: E402
from sharedformer_tf.convert import to_shared  # noqa: E402
from sharedformer_tf.data import text_documents  # noqa: E402
from sharedformer_tf.data.lm_dataset import make_lm_dataset, pack_windows, token_stream  # noqa: E402
from sharedformer_tf.data.sentencepiece_vocabulary import (  # noqa: E402
    load_sentencepiece,
    train_sentencepiece,
)
from sharedformer_tf.export import tflite  # noqa: E402
from sharedformer_tf.export.causal_lm_export import export_text_generator  # noqa: E402
from sharedformer_tf.generation import SAMPLERS, TextGenerator, evaluate_text, make_sampler  # noqa: E402
from sharedformer_tf.layers import xla_attention  # noqa: E402
from sharedformer_tf.models import SharedCausalLM, causal_lm_config  # noqa: E402
from sharedformer_tf.preprocessing import CausalLMPreprocessor  # noqa: E402
from sharedformer_tf.training import recipes  # noqa: E402

EXPORT_DIR = os.path.join("saved_models", "generate_text")
MIN_CONTEXT = 8
log = logging.getLogger("generate_text")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command")
    train = commands.add_parser("train", help="train a language model into --out DIR")
    convert = commands.add_parser(
        "convert", help="convert a trained language model (--model) to a shared one and "
        "uptrain it by distillation from it into --out DIR")  # fmt: skip
    app.add_conversion_flags(convert)
    for sub in (train, convert):
        sub.add_argument("--data", default="bible:en" if sub is train else None,
                         help="training SPEC (convert: the teacher's)")  # fmt: skip
        sub.add_argument("--out", required=True, help="directory for model, tokenizer, config")
        sub.add_argument("--epochs", type=flags.positive_int, default=3 if sub is train else 1)
        flags.add_sharing_flags(sub)
        sub.add_argument("--batch-size", type=flags.positive_int, default=32, help="per replica")
        sub.add_argument("--learning-rate", type=flags.positive_float, help="peak")
        sub.add_argument("--warmup-steps", type=flags.positive_int)
        sub.add_argument("--seed", type=int, default=0)
        sub.add_argument("--no-jit", action="store_true",
                         help="do not XLA-compile the train step")  # fmt: skip
        flags.add_distribution_flags(sub)
        sub.add_argument("--overwrite", action="store_true",
                         help="replace a finished model in --out")  # fmt: skip
        sub.add_argument("--tfds-data-dir", help="TensorFlow Datasets data_dir for tfds: SPECs")
    train.add_argument("--preset", choices=sorted(causal_lm_config.PRESETS), default="tiny")
    train.add_argument("--adapter-dim", type=flags.positive_int, help="per-depth adapter width")
    flags.add_kv_sharing_flag(train)
    train.add_argument("--vocab-size", type=flags.int_at_least(8),
                       help="largest SentencePiece vocabulary (default: the preset's)")  # fmt: skip
    train.add_argument("--context", type=flags.int_at_least(MIN_CONTEXT),
                       help="tokens per training window and longest generation")  # fmt: skip
    train.add_argument("--dropout", type=flags.fraction)
    for command in ("evaluate", "generate", "export"):
        sub = commands.add_parser(command)
        sub.add_argument("--model", required=True, help="a directory written by train")
        if command == "evaluate":
            sub.add_argument("--data", help="SPEC to score (default: the training SPEC)")
            sub.add_argument("--split", choices=text_documents.SPLITS, default="test")
            sub.add_argument("--tfds-data-dir", help="(default: the training run's)")
        if command == "generate":
            sub.add_argument("--prompt", default="", help="text to continue (default: none)")
            sub.add_argument("--max-tokens", type=flags.positive_int, default=64)
            sub.add_argument("--sampler", choices=SAMPLERS, default="top_p")
            sub.add_argument("--temperature", type=flags.positive_float, default=1.0)
            sub.add_argument("--top-k", type=flags.positive_int, default=40)
            sub.add_argument("--top-p", type=flags.positive_float, default=0.9)
            sub.add_argument("--seed", type=int, default=0)
        if command == "export":
            sub.add_argument("--out", default=EXPORT_DIR)
            sub.add_argument("--max-tokens", type=flags.positive_int,
                             help="new tokens per prompt of the SavedModel (default: 64, at most "
                             "half the context)")  # fmt: skip
            sub.add_argument("--tflite", choices=tflite.QUANTIZATIONS + ("all",), default="all")
    scoring, run = commands.choices["evaluate"], commands.choices["generate"]
    flags.add_depth_flags(train, scoring, run, token_exits=(scoring, run))
    return parser, parser.parse_args(argv)


def model_config(args, vocabulary_size):
    """The preset with the flags applied; `--sharing none` is the plain model
    of the preset's depth (no adapters unless asked for)."""
    config = causal_lm_config.preset(args.preset, vocabulary_size=vocabulary_size)
    changes = {"plan": flags.plan_from_flags(args, config.plan),
               "max_length": args.context or config.max_length,
               "adapter_dim": args.adapter_dim or (
                   None if args.sharing == "none" else config.adapter_dim)}  # fmt: skip
    if args.dropout is not None:
        changes["dropout"] = args.dropout
    if args.kv_sharing is not None:
        changes["kv_sharing"] = args.kv_sharing
    return config.replace(**flags.sharing_config(args), **flags.depth_config(args), **changes)


def training_windows(args, documents, valid, config, tokenizer, batch_size):
    """Training and validation windows of `config.max_length` tokens; at
    least one batch of training windows or a `ValueError`."""
    preprocessor = CausalLMPreprocessor.for_model(config, tokenizer)
    context = config.max_length
    windows = pack_windows(token_stream(documents, preprocessor), context, config.pad_id)
    if len(windows) < batch_size:
        raise ValueError(f"{args.data}: {len(windows)} training windows of {context} tokens, "
                         f"fewer than one batch of {batch_size}; lower --batch-size or "
                         "--context, or give more text")  # fmt: skip
    valid_windows = pack_windows(token_stream(valid, preprocessor), context, config.pad_id,
                                 keep_last=True)  # fmt: skip
    return windows, valid_windows


def train(args):
    run = app.TrainingRun(args)
    preset = causal_lm_config.preset(args.preset)
    model_config(args, args.vocab_size or preset.vocabulary_size)  # bad flags fail first
    documents = text_documents.read_documents(args.data, "train", args.tfds_data_dir)
    valid = text_documents.read_documents(args.data, "validation", args.tfds_data_dir)
    if run.prepare().resuming:  # a resumed run keeps its tokenizer
        tokenizer = load_sentencepiece(os.path.join(run.work, "tokenizer.model"))
    else:
        proto = train_sentencepiece(documents, args.vocab_size or preset.vocabulary_size)
        tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(proto=proto)
    distribute.check_same_across_workers(run.strategy, tokenizer.proto, "tokenizer")
    config = model_config(args, tokenizer.vocabulary_size())
    windows, valid_windows = training_windows(args, documents, valid, config, tokenizer,
                                              run.global_batch_size)  # fmt: skip
    context, batch_size = config.max_length, run.global_batch_size
    learning_rate = args.learning_rate or recipes.CAUSAL_LM_LEARNING_RATES[args.preset]
    recipe = {"learning_rate": learning_rate, "warmup_steps": args.warmup_steps,
              "global_batch_size": batch_size, "epochs": args.epochs}  # fmt: skip
    run.open(config, files={"tokenizer.model": tokenizer.proto}, training=recipe)

    train_ds = make_lm_dataset(windows, batch_size, shuffle=True, seed=args.seed,
                               drop_remainder=True)  # fmt: skip
    valid_ds = make_lm_dataset(valid_windows, batch_size)
    steps = int(train_ds.cardinality()) * args.epochs
    log.info("Attention core XLA-compiled: %s", xla_attention.xla_attention_enabled())
    log.info("Training on %d documents (%d windows of %d tokens; %d validation windows), %d "
             "epochs, global batch %d, peak learning rate %g", len(documents), len(windows),
             context, len(valid_windows), args.epochs, batch_size, learning_rate)  # fmt: skip

    def build(jit_compile):
        model = SharedCausalLM(config)
        return training.compile_seq2seq(model, steps, learning_rate, args.warmup_steps,
                                        0.0, config.pad_id, jit_compile=jit_compile)  # fmt: skip

    model = run.fit(build, train_ds, valid_ds)
    run.finish(model, lambda model, directory: TextGenerator(model, tokenizer).save(directory))


def convert(args):
    """`to_shared` on the trained language model `--model` with the sharing
    flags' plan, then `--epochs` of distillation from it (`Distiller`)."""
    run = app.TrainingRun(args)
    teacher = TextGenerator.load(args.model)
    recorded = training.read_run_config(args.model)
    args.data = args.data or recorded["run"]["data"]
    args.tfds_data_dir = args.tfds_data_dir or recorded["run"].get("tfds_data_dir")
    shared = app.conversion_options(args, teacher.model.decoder.num_layers)
    config = to_shared(teacher.model, **shared).config  # bad flags fail before anything is written
    documents = text_documents.read_documents(args.data, "train", args.tfds_data_dir)
    valid = text_documents.read_documents(args.data, "validation", args.tfds_data_dir)
    batch_size = run.global_batch_size
    windows, valid_windows = training_windows(args, documents, valid, config, teacher.tokenizer,
                                              batch_size)  # fmt: skip
    run.prepare()
    learning_rate = args.learning_rate or recorded.get("training", {}).get(
        "learning_rate", recipes.CAUSAL_LM_LEARNING_RATES["tiny"]
    )
    recipe = {"learning_rate": learning_rate, "warmup_steps": args.warmup_steps,
              "global_batch_size": batch_size, "epochs": args.epochs}  # fmt: skip
    run.open(config, files={"tokenizer.model": teacher.tokenizer.proto}, training=recipe,
             conversion=app.conversion_record(args))  # fmt: skip
    train_ds = make_lm_dataset(windows, batch_size, shuffle=True, seed=args.seed,
                               drop_remainder=True)  # fmt: skip
    valid_ds = make_lm_dataset(valid_windows, batch_size)
    steps = int(train_ds.cardinality()) * args.epochs
    log.info("Converted to %s (%s init); distilling on %d windows for %d epochs, alpha %g, "
             "temperature %g", shared["plan"], args.init, len(windows), args.epochs,
             args.distill_alpha, args.temperature)  # fmt: skip

    def build(jit_compile):  # in the strategy's scope: the teacher's variables too
        distiller = app.conversion_distiller(TextGenerator.load(args.model).model, shared, args)
        return training.compile_seq2seq(distiller, steps, learning_rate, args.warmup_steps, 0.0,
                                        config.pad_id, jit_compile=jit_compile)  # fmt: skip

    run.finish(
        run.fit(build, train_ds, valid_ds).student,
        lambda model, directory: TextGenerator(model, teacher.tokenizer).save(directory),
    )


def evaluate_model(args):
    generator = TextGenerator.load(args.model)
    run = training.read_run_config(args.model)["run"]  # the training SPEC by default
    data = args.data or run.get("data", "bible:en")
    data_dir = args.tfds_data_dir or run.get("tfds_data_dir")
    if args.exit_thresholds:
        generator.with_exit(0.0)  # refuses a model that cannot exit early
    documents = text_documents.read_documents(data, args.split, data_dir)
    metrics = app.evaluate_depths(
        generator.model, args.depth,
        lambda model, depth, _: evaluate_text(model, generator.preprocessor, documents,
                                              depth=depth),
        ("perplexity", "bits_per_byte", "seconds"),
    )  # fmt: skip
    for row in metrics.get("per_depth", ()):
        print(f"  depth {row['depth']}: perplexity {row['perplexity']:.2f}")
    metrics["early_exit"] = []
    for threshold in args.exit_thresholds or ():
        row = evaluate_text(generator.model, generator.preprocessor, documents, depth=args.depth,
                            exit_threshold=threshold)  # fmt: skip
        metrics["early_exit"].append(
            {
                "threshold": threshold,
                **{k: row[k] for k in ("perplexity", "bits_per_byte", "mean_depth", "seconds")},
            }
        )
        print(f"  exit at change < {threshold}: perplexity {row['perplexity']:.2f}, "
              f"mean depth {row['mean_depth']:.2f}")  # fmt: skip
    if not metrics["early_exit"]:
        del metrics["early_exit"]
    metrics.update(data=data, split=args.split)
    print(json.dumps(metrics))
    return metrics


def generate(args):
    if args.top_p > 1:
        raise ValueError(f"--top-p must be in (0, 1]. Received: {args.top_p}")
    generator = TextGenerator.load(args.model)
    if args.depth is not None:
        generator = generator.at_depth(args.depth)
    if args.exit_threshold is not None:
        generator = generator.with_exit(args.exit_threshold)
    if args.max_tokens >= generator.context:
        raise ValueError(f"--max-tokens must be below the model's context of "
                         f"{generator.context} tokens. Received: {args.max_tokens}")  # fmt: skip
    sampler = make_sampler(args.sampler, args.temperature, args.top_k, args.top_p, args.seed)
    sys.stdout.write(args.prompt)
    for piece in generator.stream(args.prompt, args.max_tokens, sampler):
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")


def export(args):
    variants = tflite.QUANTIZATIONS if args.tflite == "all" else (args.tflite,)
    summary = export_text_generator(TextGenerator.load(args.model), args.out, variants,
                                    args.max_tokens)  # fmt: skip
    print(json.dumps(summary))
    return summary


def demo(_):
    model_dir = os.path.join(EXPORT_DIR, "model")
    # Replaces an earlier demo model once trained; an interrupted run resumes.
    train(parse_args(["train", "--out", model_dir, "--overwrite"])[1])
    metrics = evaluate_model(parse_args(["evaluate", "--model", model_dir])[1])
    summary = export(parse_args(["export", "--model", model_dir])[1])
    print("\nExported:", ", ".join(f"{k} {v / 2**20:.2f} MiB" for k, v in summary["bytes"].items()))
    generator = TextGenerator.load(model_dir)
    prompts = ["In the beginning", "The king said to his servants,"]
    sampler = make_sampler("top_p", seed=0)  # greedy decoding of a small model repeats itself
    for prompt, text in zip(prompts, generator.generate(prompts, 32, sampler), strict=True):
        print(f"  {prompt}{text}")
    print(json.dumps({key: metrics[key] for key in ("perplexity", "bits_per_byte")}))


def main(argv=None):
    absl.logging.set_verbosity(absl.logging.ERROR)
    tf.get_logger().setLevel("ERROR")
    parser, args = parse_args(sys.argv[1:] if argv is None else argv)
    commands = {None: demo, "train": train, "convert": convert, "evaluate": evaluate_model,
                "generate": generate, "export": export}  # fmt: skip
    flags.run(commands, parser, args)


if __name__ == "__main__":
    main()
