"""The default shared Vision Transformer against the unshared model of the
same depth, each trained, evaluated and exported by `apps/classify_images.py`
on the same data for the same number of epochs.

    python benchmarks/vision_sharing.py [--data fashion_mnist] [--epochs 12] [--preset tiny]
                                        [--models shared,unshared] [--out DIR] [-- TRAIN_FLAGS]

The last stdout line is one JSON object (see `app_sharing_comparison.py`).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import app_sharing_comparison  # noqa: E402

if __name__ == "__main__":
    app = os.path.join(app_sharing_comparison.ROOT, "apps", "classify_images.py")
    app_sharing_comparison.main(app, __doc__, data="fashion_mnist", epochs=12)
