"""The default shared audio Transformer against the unshared model of the
same depth, each trained, evaluated and exported by `apps/keyword_spotting.py`
on the same data for the same number of epochs.

    python benchmarks/speech_sharing.py [--data spoken_commands] [--epochs 12] [--preset tiny]
                                        [--models shared,unshared] [--out DIR] [-- TRAIN_FLAGS]

The last stdout line is one JSON object (see `app_sharing_comparison.py`).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import app_sharing_comparison  # noqa: E402

if __name__ == "__main__":
    app = os.path.join(app_sharing_comparison.ROOT, "apps", "keyword_spotting.py")
    app_sharing_comparison.main(app, __doc__, data="spoken_commands", epochs=12)
