"""Train, evaluate, run and export a parameter-shared translator.

    python apps/translate.py                 # demo: builtin en-fr corpus, train, evaluate, export
    python apps/translate.py train --data SPEC --out DIR [--preset tiny|tiny_relaxed|small|base] ...
    python apps/translate.py convert --model DIR --out DIR [--sharing S --groups M] [--init I]
                                     [--share-cross-attention] [--no-per-depth-norms]
                                     [--relax lora|adapter --rank R] [--epochs N]
                                     [--distill-alpha A]
    python apps/translate.py evaluate --model DIR [--data SPEC] [--beam K] [--no-jit]
                                      [--depth N] [--exit-thresholds C,...]
    python apps/translate.py translate --model DIR [--tflite FILE] [--depth N] [--exit-threshold C]
                                       [TEXT ...]   (or stdin lines)
    python apps/translate.py export --model DIR [--tflite fp32|fp16|dynamic-int8|all]

SPEC: builtin[:en-fr] | parallel:SRC_FILE,TGT_FILE | tsv:FILE | tfds:NAME[:SPLIT]
      | bible:es-en[:SPLIT] (Reina-Valera 1909 -> World English Bible, aligned by verse)
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

import sharedformer_tf as sf  # noqa: E402
from sharedformer_tf import app, distribute, training  # noqa: E402
from sharedformer_tf.app import flags  # noqa: E402
from sharedformer_tf.convert import to_shared  # noqa: E402
from sharedformer_tf.data import text_pairs  # noqa: E402
from sharedformer_tf.data.sentencepiece_vocabulary import (  # noqa: E402
    load_sentencepiece,
    train_sentencepiece,
)
from sharedformer_tf.data.translation_dataset import (  # noqa: E402
    count_truncated_pairs,
    make_translation_dataset,
)
from sharedformer_tf.export import tflite  # noqa: E402
from sharedformer_tf.export.translator_export import export_translator  # noqa: E402
from sharedformer_tf.layers import xla_attention  # noqa: E402
from sharedformer_tf.models import Seq2SeqTransformer, seq2seq_config  # noqa: E402
from sharedformer_tf.preprocessing import Seq2SeqPreprocessor  # noqa: E402
from sharedformer_tf.training import recipes  # noqa: E402
from sharedformer_tf.translation import Translator, evaluate  # noqa: E402

EXPORT_DIR = os.path.join("saved_models", "translate")
MIN_MAX_LENGTH = 8  # BOS or EOS and a few pieces: a shorter model cannot translate
log = logging.getLogger("translate")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command")
    train = commands.add_parser("train", help="train a translator into --out DIR")
    convert = commands.add_parser(
        "convert", help="convert a trained translator (--model) to a shared one and uptrain it "
        "by distillation from it into --out DIR")  # fmt: skip
    app.add_conversion_flags(convert)
    for sub in (train, convert):
        sub.add_argument("--data", default="builtin:en-fr" if sub is train else None,
                         help="training SPEC (convert's default: the teacher's)")  # fmt: skip
        sub.add_argument(
            "--valid", help="validation SPEC (default: its valid split, or 1%% held out)"
        )
        sub.add_argument(
            "--out", required=True, help="directory for model, tokenizer, config, report"
        )
        sub.add_argument("--epochs", type=flags.positive_int, default=3 if sub is train else 1)
        flags.add_sharing_flags(sub).add_argument(
            "--share-cross-attention", action=argparse.BooleanOptionalAction,
            help="one cross-attention for all decoder depths")  # fmt: skip
        sub.add_argument("--batch-size", type=flags.positive_int, default=64, help="per replica")
        sub.add_argument(
            "--learning-rate", type=flags.positive_float, help="peak (default: preset's)"
        )
        sub.add_argument("--warmup-steps", type=flags.positive_int)
        sub.add_argument("--label-smoothing", type=flags.fraction, default=0.1)
        sub.add_argument("--train-examples", type=flags.positive_int,
                         help="builtin size, or first N")  # fmt: skip
        sub.add_argument("--seed", type=int, default=0)
        sub.add_argument("--no-jit", action="store_true", help="do not XLA-compile the train step")
        flags.add_distribution_flags(sub)
        sub.add_argument("--overwrite", action="store_true",
                         help="replace a finished model in --out")  # fmt: skip
    train.add_argument("--preset", choices=sorted(seq2seq_config.PRESETS), default="tiny")
    on_off = argparse.BooleanOptionalAction
    train.add_argument("--share-encoder-decoder", action=on_off, help="decoder uses encoder groups")
    train.add_argument("--tie-embeddings", action=on_off)
    flags.add_kv_sharing_flag(train)
    train.add_argument(
        "--adapter-dim", type=flags.positive_int, help="per-depth adapter width (relaxed sharing)"
    )
    train.add_argument(
        "--vocab-size", type=flags.positive_int, help="largest SentencePiece vocabulary"
    )
    train.add_argument("--max-length", type=flags.int_at_least(MIN_MAX_LENGTH),
                       help=f"longest sequence in tokens, at least {MIN_MAX_LENGTH}")  # fmt: skip
    train.add_argument("--dropout", type=flags.fraction, help="residual/attention/FFN dropout rate")
    for command in ("evaluate", "translate", "export"):
        sub = commands.add_parser(command)
        sub.add_argument("--model", required=True, help="a directory written by train")
        if command == "evaluate":
            sub.add_argument("--data", help="SPEC to score on (default: the training SPEC's test "
                                            "split)")  # fmt: skip
            sub.add_argument("--num-examples", type=flags.positive_int)
        if command in ("evaluate", "translate"):
            sub.add_argument(
                "--beam", type=flags.positive_int, default=1, help="beam size, 1 = greedy"
            )
            sub.add_argument("--no-jit", action="store_true",
                             help="decode without XLA (no compiling per shape)")  # fmt: skip
        if command == "translate":
            sub.add_argument("--tflite", metavar="FILE",
                             help="run this exported .tflite file (greedy) on LiteRT")  # fmt: skip
            sub.add_argument("texts", nargs="*", metavar="TEXT")
        if command == "export":
            sub.add_argument("--out", default=EXPORT_DIR)
            sub.add_argument("--tflite", choices=tflite.QUANTIZATIONS + ("all",), default="all")
    for sub in (train, convert, commands.choices["evaluate"]):
        sub.add_argument("--tfds-data-dir", help="TensorFlow Datasets data_dir for tfds: SPECs")
    scoring, run = commands.choices["evaluate"], commands.choices["translate"]
    flags.add_depth_flags(train, scoring, run, token_exits=(scoring, run))
    return parser, parser.parse_args(argv)


def model_config(args, vocabulary_size):
    """The preset with the flags applied; `--sharing none` is the plain model of
    the preset's shape (no encoder-decoder or cross-attention sharing and no
    adapters either, unless asked for)."""
    config = seq2seq_config.preset(args.preset, vocabulary_size=vocabulary_size)
    decoder_plan = flags.plan_from_flags(args, config.decoder_plan)
    plain = args.sharing == "none"
    changes = {
        "encoder_plan": flags.plan_from_flags(args, config.encoder_plan),
        "decoder_plan": decoder_plan,
        "max_length": args.max_length or config.max_length,
        "share_encoder_decoder": config.share_encoder_decoder and not plain,
        "adapter_dim": args.adapter_dim or (None if plain else config.adapter_dim),
    }
    cross = None if plain or args.share_cross_attention is False else config.cross_attention_plan
    if args.share_cross_attention:
        cross = sf.SharingPlan(decoder_plan.num_layers, strategy="all")
    changes["cross_attention_plan"] = cross and cross.replace(num_layers=decoder_plan.num_layers)
    if args.dropout is not None:
        changes["dropout"] = args.dropout
    if args.share_encoder_decoder is not None:
        changes["share_encoder_decoder"] = args.share_encoder_decoder
    if args.tie_embeddings is not None:
        changes.update(tie_embeddings=args.tie_embeddings, tie_output=args.tie_embeddings)
    if args.kv_sharing is not None:
        changes["kv_sharing"] = args.kv_sharing
    return config.replace(**flags.sharing_config(args), **flags.depth_config(args), **changes)


def load_training_data(args):
    read = dict(seed=args.seed, data_dir=args.tfds_data_dir)
    pairs = text_pairs.read_pairs(args.data, "train", args.train_examples, **read)
    if args.valid:
        valid = text_pairs.read_pairs(args.valid, "valid", **read)
    elif text_pairs.parse_spec(args.data).kind in text_pairs.SPLIT_KINDS:
        valid = text_pairs.read_pairs(args.data, "valid", **read)
    else:
        held_out = min(1000, max(1, len(pairs) // 100))
        pairs, valid = pairs[held_out:], pairs[:held_out]
    kept = [(s, t) for s, t in pairs if s and t]
    if len(kept) < len(pairs):
        log.warning("Skipped %d training pairs with an empty side.", len(pairs) - len(kept))
    if not kept:
        raise ValueError(f"No usable training pairs in {args.data!r}")
    return kept, [(s, t) for s, t in valid if s and t]


def train(args):
    run = app.TrainingRun(args)
    preset = seq2seq_config.preset(args.preset)
    model_config(args, args.vocab_size or preset.vocabulary_size)  # bad flags fail first
    pairs, valid = load_training_data(args)
    if run.prepare().resuming:  # a resumed run keeps its tokenizer
        tokenizer = load_sentencepiece(os.path.join(run.work, "tokenizer.model"))
    else:
        texts = [text for pair in pairs for text in pair]
        proto = train_sentencepiece(texts, args.vocab_size or preset.vocabulary_size)
        tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(proto=proto)
    distribute.check_same_across_workers(run.strategy, tokenizer.proto, "tokenizer")
    config = model_config(args, tokenizer.vocabulary_size())
    preprocessor = Seq2SeqPreprocessor.for_model(config, tokenizer)
    truncated = count_truncated_pairs(pairs, preprocessor)
    if truncated:
        log.warning("%d of %d training pairs (%.1f%%) are longer than %d tokens and are "
                    "truncated; raise --max-length to keep them whole", truncated, len(pairs),
                    100 * truncated / len(pairs), config.max_length - 1)  # fmt: skip
    learning_rate = args.learning_rate or recipes.SEQ2SEQ_LEARNING_RATES[args.preset]
    recipe = {"learning_rate": learning_rate, "warmup_steps": args.warmup_steps,
              "label_smoothing": args.label_smoothing,
              "global_batch_size": run.global_batch_size, "epochs": args.epochs}  # fmt: skip
    run.open(config, files={"tokenizer.model": tokenizer.proto}, training=recipe)

    batch_size = run.global_batch_size
    train_ds = make_translation_dataset(pairs, preprocessor, batch_size, shuffle=True,
                                        seed=args.seed, drop_remainder=True)  # fmt: skip
    valid_ds = make_translation_dataset(valid, preprocessor, batch_size)
    steps = int(train_ds.cardinality()) * args.epochs
    log.info("Attention core XLA-compiled: %s", xla_attention.xla_attention_enabled())
    log.info("Training on %d pairs (%d validation), %d epochs, global batch %d, peak "
             "learning rate %g", len(pairs), len(valid), args.epochs, batch_size,
             learning_rate)  # fmt: skip

    def build(jit_compile):
        model = Seq2SeqTransformer(config)
        return training.compile_seq2seq(model, steps, learning_rate, args.warmup_steps,
                                        args.label_smoothing, config.pad_id,
                                        jit_compile=jit_compile)  # fmt: skip

    model = run.fit(build, train_ds, valid_ds)
    run.finish(model, lambda model, directory: Translator(model, tokenizer).save(directory))


def convert(args):
    """`to_shared` on the trained translator `--model` with the sharing
    flags' plan, then `--epochs` of distillation from it (`Distiller`)."""
    run = app.TrainingRun(args)
    teacher = Translator.load(args.model)
    recorded = training.read_run_config(args.model)
    args.data = args.data or recorded["run"]["data"]
    shared = app.conversion_options(args, teacher.model.encoder.num_layers)
    config = to_shared(teacher.model, **shared).config  # bad flags fail before anything is written
    pairs, valid = load_training_data(args)
    run.prepare()
    learning_rate = args.learning_rate or recorded.get("training", {}).get("learning_rate", 1e-3)
    recipe = {"learning_rate": learning_rate, "warmup_steps": args.warmup_steps,
              "label_smoothing": args.label_smoothing,
              "global_batch_size": run.global_batch_size, "epochs": args.epochs}  # fmt: skip
    run.open(config, files={"tokenizer.model": teacher.tokenizer.proto}, training=recipe,
             conversion=app.conversion_record(args))  # fmt: skip
    preprocessor = Seq2SeqPreprocessor.for_model(config, teacher.tokenizer)
    batch_size = run.global_batch_size
    train_ds = make_translation_dataset(pairs, preprocessor, batch_size, shuffle=True,
                                        seed=args.seed, drop_remainder=True)  # fmt: skip
    valid_ds = make_translation_dataset(valid, preprocessor, batch_size)
    steps = int(train_ds.cardinality()) * args.epochs
    log.info("Converted to %s, decoder %s (%s init); distilling on %d pairs for %d epochs, "
             "alpha %g, temperature %g", shared["plan"], shared.get("decoder_plan", "the same"),
             args.init, len(pairs), args.epochs, args.distill_alpha,
             args.temperature)  # fmt: skip

    def build(jit_compile):  # in the strategy's scope: the teacher's variables too
        distiller = app.conversion_distiller(Translator.load(args.model).model, shared, args)
        return training.compile_seq2seq(distiller, steps, learning_rate, args.warmup_steps,
                                        args.label_smoothing, config.pad_id,
                                        jit_compile=jit_compile)  # fmt: skip

    distiller = run.fit(build, train_ds, valid_ds)
    run.finish(
        distiller.student,
        lambda model, directory: Translator(model, teacher.tokenizer).save(directory),
    )


def evaluate_model(args):
    translator = Translator.load(args.model)
    if args.exit_thresholds:
        translator.with_exit(0.0)  # refuses a model that cannot exit early
    spec = args.data or training.read_run_config(args.model)["run"]["data"]
    if text_pairs.parse_spec(spec).kind not in text_pairs.SPLIT_KINDS and not args.data:
        raise ValueError(f"The training data {spec} has no test split: name one with --data")
    pairs = text_pairs.read_pairs(spec, "test", args.num_examples, data_dir=args.tfds_data_dir)
    decoding, outputs = {"beam": args.beam, "jit_compile": not args.no_jit}, {}

    def score_at(model, depth, _):
        metrics, outputs[depth] = evaluate(Translator(model, translator.tokenizer, depth), pairs,
                                           **decoding)  # fmt: skip
        return metrics

    metrics = app.evaluate_depths(translator.model, args.depth, score_at,
                                  ("bleu", "chrf", "seconds"))  # fmt: skip
    shown = outputs[None] if None in outputs else outputs[args.depth]
    for (source, reference), output in list(zip(pairs, shown, strict=True))[:5]:
        print(f"  {source}\n    -> {output}\n    (reference: {reference})")
    for row in metrics.get("per_depth", ()):
        print(f"  depth {row['depth']}: BLEU {row['bleu']:.2f}, chrF {row['chrf']:.2f}")
    if args.exit_thresholds:
        metrics["early_exit"] = []
    at_depth = translator.at_depth(args.depth) if args.depth else translator
    for threshold in args.exit_thresholds or ():
        row = evaluate(at_depth.with_exit(threshold), pairs, **decoding)[0]
        metrics["early_exit"].append({"threshold": threshold, **{
            k: row[k] for k in ("bleu", "chrf", "mean_depth", "seconds")}})  # fmt: skip
        print(f"  exit at change < {threshold}: BLEU {row['bleu']:.2f}, "
              f"mean depth {row['mean_depth']:.2f}")  # fmt: skip
    print(json.dumps(metrics))
    return metrics


def translate(args):
    if args.tflite and args.beam != 1:
        raise ValueError(f"--tflite decodes greedily. Received: --beam {args.beam}")
    if args.tflite and not os.path.isfile(args.tflite):
        raise FileNotFoundError(f"--tflite {args.tflite}: no such file")
    if args.tflite and args.exit_threshold is not None:
        raise ValueError(f"--tflite files decode without early exit. Received: "
                         f"--exit-threshold {args.exit_threshold}")  # fmt: skip
    translator = Translator.load(args.model)
    if args.tflite:  # an elastic file (translator_elastic_*) runs at --depth
        runner = tflite.TFLiteGenerator(args.tflite, translator.preprocessor, args.depth)
    if args.depth is not None:
        translator = translator.at_depth(args.depth)
    if args.exit_threshold is not None:
        translator = translator.with_exit(args.exit_threshold)
    texts = args.texts or text_pairs.decode_lines(sys.stdin.buffer.read(), "<stdin>")
    if args.tflite:
        lines = runner.translate(texts)
    else:
        lines = translator.translate(texts, beam=args.beam, jit_compile=not args.no_jit)
    for line in lines:
        print(line)


def export(args):
    variants = tflite.QUANTIZATIONS if args.tflite == "all" else (args.tflite,)
    summary = export_translator(Translator.load(args.model), args.out, variants)
    print(json.dumps(summary))
    return summary


def demo(_):
    model_dir = os.path.join(EXPORT_DIR, "model")
    # Replaces an earlier demo model once trained; an interrupted run resumes.
    train(parse_args(["train", "--out", model_dir, "--overwrite"])[1])
    metrics = evaluate_model(parse_args(["evaluate", "--model", model_dir])[1])
    summary = export(parse_args(["export", "--model", model_dir])[1])
    print("\nExported:", ", ".join(f"{k} {v / 2**20:.2f} MiB" for k, v in summary["bytes"].items()))
    samples = ["Saturday, July 14, 2029 at 7:30 PM", "$1,284.50",
               "nine hundred and ninety-seven thousand, one hundred and eighty-one"]  # fmt: skip
    for source, output in zip(samples, Translator.load(model_dir).translate(samples), strict=True):
        print(f"  {source}  ->  {output}")
    print(json.dumps({key: metrics[key] for key in ("bleu", "chrf", "exact_match")}))


def main(argv=None):
    absl.logging.set_verbosity(absl.logging.ERROR)  # TF's SavedModel chatter
    tf.get_logger().setLevel("ERROR")
    parser, args = parse_args(sys.argv[1:] if argv is None else argv)
    commands = {None: demo, "train": train, "convert": convert, "evaluate": evaluate_model,
                "translate": translate, "export": export}  # fmt: skip
    flags.run(commands, parser, args)


if __name__ == "__main__":
    main()
