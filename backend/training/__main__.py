"""``python -m layerloom.backend.training FILE [options]``: the same as ``layerloom train``.

For places where the ``layerloom`` command is not on the PATH, above all under
torchrun, which starts a Python module in every process::

    torchrun --nproc-per-node 4 -m backend.training model.loom --out runs/model

Each process finds its rank in the environment torchrun sets and joins the run.
"""

import sys

from layerloom.backend.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
