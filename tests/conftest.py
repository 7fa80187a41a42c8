"""Settings for the whole suite.

The suite runs on small models on shared 2-core machines, where torch's default of
one thread per core makes tiny steps many times slower (threads fight over the
cores). One intra-op thread keeps the tests fast and their timings steady; the
variable is inherited by the subprocesses some tests start.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
