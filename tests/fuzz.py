"""``make fuzz``: at least 10,000 random graphs compiled and compared with the reference.

    python tests/fuzz.py [--graphs N] [--per-module K] [--seed S] [--backend cuda] [--large]

``--backend cuda`` builds the modules for CUDA with the kernels run on the host
(``emulation.h``), about ten times slower to build than Cython's.

Prints the number of graphs, gradients and modules, then every mismatch; exits 1 if any.
"""

import argparse
import os
import sys
import tempfile
import time

from hypothesis import HealthCheck, given, seed, settings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fuzzgraphs  # noqa: E402


def fuzz(graphs, per_module, seed_value, progress=True, large=False):
    """A fuzzgraphs.Report of ``graphs`` graphs in modules of ``per_module`` (``large``:
    arrays of up to fuzzgraphs.LARGE_ELEMENTS elements)."""
    total = fuzzgraphs.Report()
    t0 = time.perf_counter()

    @seed(seed_value)
    @settings(max_examples=-(-graphs // per_module), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(fuzzgraphs.batches(per_module, large))
    def run(batch):
        with tempfile.TemporaryDirectory() as out:
            total.add(fuzzgraphs.check_batch(batch, out))
        if progress:
            print(f"  {total.graphs} graphs, {len(total.mismatches)} mismatches, "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)

    run()
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=10_000)
    parser.add_argument("--per-module", type=int, default=50)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--backend", choices=("cython", "cuda"), default="cython")
    parser.add_argument("--large", action="store_true",
                        help="arrays of up to 300,007 elements, whose lengths cross the sizes "
                             "where the kernels change strategy")
    args = parser.parse_args()
    if args.backend == "cuda":
        os.environ["CODEGEN_CUDA_EMULATION"] = "1"
        fuzzgraphs.codegen.config.device = "cuda"
    print(f"fuzzing {args.graphs} {'large ' if args.large else ''}graphs on {args.backend}, "
          f"seed {args.seed}")
    report = fuzz(args.graphs, args.per_module, args.seed, large=args.large)
    print(f"graphs: {report.graphs}  gradients: {report.gradients}  modules: {report.modules}  "
          f"mismatches: {len(report.mismatches)}")
    for line in report.mismatches:
        print("MISMATCH", line)
    sys.exit(1 if report.mismatches else 0)


if __name__ == "__main__":
    main()
