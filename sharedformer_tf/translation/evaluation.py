"""Scoring translations with sacrebleu."""

import time

import numpy as np
import sacrebleu


def score(hypotheses, references):
    """Corpus BLEU and chrF (sacrebleu, default tokenization, on detokenized
    text) and the exact-match rate.

    Args:
        hypotheses: list of output strings.
        references: list of reference strings, aligned with `hypotheses`.

    Returns:
        Dict with `bleu`, `chrf`, `length_ratio` (hypothesis / reference
        length in BLEU's tokens: below 1, BLEU's brevity penalty applies),
        `exact_match`, `num_examples` and `signature` (sacrebleu's
        signatures of the two metrics, so scores can be compared across
        papers and versions).

    Example:

    >>> metrics = score(["the cat sat"], ["the cat sat down"])
    >>> metrics["length_ratio"], metrics["exact_match"]
    (0.75, 0.0)
    """
    if len(hypotheses) != len(references):
        raise ValueError(
            "Hypotheses and references must align. Received: "
            f"{len(hypotheses)} hypotheses, {len(references)} references"
        )
    if not references:
        raise ValueError("Nothing to score. Received: 0 examples")
    exact = sum(h == r for h, r in zip(hypotheses, references, strict=True))
    bleu, chrf = sacrebleu.metrics.BLEU(), sacrebleu.metrics.CHRF()
    bleu_score = bleu.corpus_score(hypotheses, [references])
    return {
        "bleu": round(bleu_score.score, 2),
        "chrf": round(chrf.corpus_score(hypotheses, [references]).score, 2),
        "length_ratio": round(bleu_score.ratio, 4),
        "exact_match": round(exact / len(references), 4),
        "num_examples": len(references),
        "signature": {"bleu": str(bleu.get_signature()), "chrf": str(chrf.get_signature())},
    }


def evaluate(translator, pairs, beam=1, batch_size=64, jit_compile=False):
    """Translates the sources of `pairs` (`Translator.translate` with
    `beam`, `batch_size`, `jit_compile`) and scores them against the targets.

    Returns:
        `(metrics, hypotheses)`: `score(...)` plus `seconds` (wall time of
        decoding), `beam` and `xla`, and with a translator that exits early
        (`exit_threshold`) `mean_depth` (decoder depths per output token,
        the teacher-forced count after decoding, outside `seconds`); and
        the list of outputs.
    """
    sources = [s for s, _ in pairs]
    start = time.perf_counter()
    hypotheses = translator.translate(sources, beam=beam, batch_size=batch_size,
                                      jit_compile=jit_compile)  # fmt: skip
    seconds = time.perf_counter() - start
    metrics = score(hypotheses, [t for _, t in pairs])
    metrics.update({"seconds": round(seconds, 2), "beam": beam, "xla": bool(jit_compile)})
    if translator.exit_threshold is not None:
        _, depths = translator.translate(sources, beam=beam, batch_size=batch_size,
                                         jit_compile=jit_compile, return_depths=True)  # fmt: skip
        used = np.concatenate([np.zeros(0), *depths])
        metrics["mean_depth"] = round(float(used.mean()), 4) if used.size else None
    return metrics, hypotheses
