"""Start a refiner run that also reads the disparity, from a trained refiner's checkpoint.

    python scripts/widen_refiner.py OUT SOURCE_CKPT WEIGHTS_DIR

``WEIGHTS_DIR`` (``save_pretrained``, e.g. ``assets/weights/refiner``) gives the network,
widened by :meth:`spatialme.refiner.MHFURefiner.with_disparity_input` (the new input's stem
weights are zero, so the run starts from exactly those weights' output); ``SOURCE_CKPT`` the
step, RNG states and Adam moments (zero for the new weights; :func:`spatialme.training.checkpoint.widen_checkpoint`). Then resume it with
``python -m spatialme train refiner -o OUT --disparity-input ...``.
"""

from __future__ import annotations

import argparse

from spatialme.refiner import MHFURefiner
from spatialme.training.checkpoint import widen_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="new run folder")
    parser.add_argument("source", help="checkpoint file (ckpt.pt) whose step, RNG and optimiser state to keep")
    parser.add_argument("weights", help="folder of the refiner weights to widen (save_pretrained)")
    args = parser.parse_args()
    step = widen_checkpoint(args.source, MHFURefiner.from_pretrained(args.weights), args.out)
    print(f"wrote {args.out}/ckpt.pt at step {step}")


if __name__ == "__main__":
    main()
