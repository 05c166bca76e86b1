"""Average the refiners (or inpainters) of several folders into one (``spatialme.training.average``).

    python scripts/average_weights.py refiner OUT DIR_A:0.3 DIR_B:0.7

Each ``DIR`` holds ``config.json`` and ``model.safetensors`` (a run's ``final/`` or an
exported checkpoint); the weights after the colons must sum to 1.
"""

from __future__ import annotations

import argparse

from spatialme.inpaint.network import GatedInpainter
from spatialme.refiner import MHFURefiner
from spatialme.training.average import average_pretrained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("refiner", "inpainter"))
    parser.add_argument("out", help="folder to write (save_pretrained)")
    parser.add_argument("parts", nargs="+", metavar="DIR:WEIGHT")
    args = parser.parse_args()
    folders, weights = zip(*(p.rsplit(":", 1) for p in args.parts))
    cls = MHFURefiner if args.kind == "refiner" else GatedInpainter
    average_pretrained(cls, folders, [float(w) for w in weights], args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
