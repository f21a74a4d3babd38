import json
import subprocess
import sys

import pytest

from sharedformer_tf.data import builtin_corpus
from sharedformer_tf.export.translator_saved_model import export_saved_model

LOADER = """
import json, sys
import tensorflow as tf
import tensorflow_text  # registers the SentencePiece ops
translate = tf.saved_model.load(sys.argv[1]).signatures["translate"]
texts = json.loads(sys.stdin.read())
outputs = translate(texts=tf.constant(texts))
name = list(outputs)[0]
print(json.dumps({
    "outputs": [t.decode("utf-8") for t in outputs[name].numpy()],
    "modules": sorted(m for m in ("sharedformer_tf", "keras_hub") if m in sys.modules),
}))
"""


@pytest.fixture(scope="module")
def exported(tiny_translator, tmp_path_factory):
    return export_saved_model(tiny_translator, str(tmp_path_factory.mktemp("export") / "sm"))


def test_saved_model_matches_keras_in_a_process_without_the_library(tiny_translator, exported):
    sources = [s for s, _ in builtin_corpus.generate("en-fr", "test", 8, seed=0)]
    sources += ["", " ".join(["huit"] * 60)]
    result = subprocess.run(
        [sys.executable, "-c", LOADER, exported],
        input=json.dumps(sources),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["modules"] == []
    assert loaded["outputs"] == tiny_translator.translate(sources)
    assert loaded["outputs"][-2] == ""
