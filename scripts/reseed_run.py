"""Start a training run folder from an existing checkpoint with other weights (an average).

    python scripts/reseed_run.py refiner OUT SOURCE_CKPT WEIGHTS_DIR

``SOURCE_CKPT`` gives the optimiser state, step and RNG states; ``WEIGHTS_DIR`` (``config.json``
and ``model.safetensors``, e.g. ``assets/weights/refiner``) the network. Then resume the run
with ``python -m spatialme train refiner -o OUT ...`` (``spatialme.training.checkpoint.reseed_checkpoint``).
"""

from __future__ import annotations

import argparse

from spatialme.inpaint.network import GatedInpainter
from spatialme.refiner import MHFURefiner
from spatialme.training.checkpoint import reseed_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("refiner", "inpainter"))
    parser.add_argument("out", help="new run folder")
    parser.add_argument("source", help="checkpoint file (ckpt.pt) whose optimiser state and step to keep")
    parser.add_argument("weights", help="folder of the weights to start from (save_pretrained)")
    args = parser.parse_args()
    cls = MHFURefiner if args.kind == "refiner" else GatedInpainter
    step = reseed_checkpoint(args.source, cls.from_pretrained(args.weights), args.out)
    print(f"wrote {args.out}/ckpt.pt at step {step}")


if __name__ == "__main__":
    main()
