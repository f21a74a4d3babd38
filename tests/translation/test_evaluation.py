import pytest

from sharedformer_tf.translation import evaluate, score


def test_perfect_and_partial_scores():
    refs = ["le chat est noir", "deux cents euros"]
    perfect = score(refs, refs)
    assert perfect["bleu"] == 100.0 and perfect["chrf"] == 100.0
    assert perfect["exact_match"] == 1.0 and perfect["num_examples"] == 2
    partial = score(["le chat est blanc", "deux cents euros"], refs)
    assert 0 < partial["bleu"] < 100 and partial["exact_match"] == 0.5


def test_length_ratio_and_signatures():
    refs = ["le chat est noir ce soir", "deux cents euros"]
    # 3 + 3 hypothesis tokens against 6 + 3 reference tokens.
    short = score(["le chat est", "deux cents euros"], refs)
    assert short["length_ratio"] == 0.6667
    assert score(refs, refs)["length_ratio"] == 1.0
    assert short["signature"]["bleu"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    assert short["signature"]["chrf"].startswith("nrefs:1|case:mixed|eff:yes|nc:6|nw:0")


def test_score_errors():
    with pytest.raises(ValueError, match="1 hypotheses, 2 references"):
        score(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="0 examples"):
        score([], [])


def test_evaluate_reports_time_and_outputs(tiny_translator):
    pairs = [("ten", "dix"), ("", "")]
    metrics, outputs = evaluate(tiny_translator, pairs)
    assert set(metrics) >= {"bleu", "chrf", "exact_match", "num_examples", "seconds"}
    assert len(outputs) == 2 and outputs[1] == ""
