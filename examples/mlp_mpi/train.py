"""Data-parallel training of module ``mlp_w2`` over MPI (no codegen needed at run time).

Every rank takes its share of each minibatch's columns, computes its gradients
(``train_gradients``), the gradients of all ranks are summed by one all-reduce of the flat
gradient buffer, and every rank applies the same update (``train_apply``): the parameters stay
identical on every rank, and equal to one process training on the whole minibatch.

    mpiexec -n 2 python examples/mlp_mpi/train.py --module-dir examples/mlp_mpi/out/mlp_w2
    python examples/mlp_mpi/train.py --single ...     # one process, module.train, no MPI
"""

import argparse
import json
import os
import sys
import time

import numpy as np


def shard(start, stop, rank, size):
    """Columns [start, stop) split into ``size`` nearly equal runs: this rank's."""
    bounds = np.linspace(start, stop, size + 1).round().astype(int)
    return slice(bounds[rank], bounds[rank + 1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--module-dir", default="examples/mlp_mpi/out/mlp_w2")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--batch", type=int, default=256, help="the minibatch, over all ranks")
    p.add_argument("--examples", type=int, default=4096)
    p.add_argument("--threads", type=int, default=0,
                   help="threads per rank (default: the cores over the ranks on this machine)")
    p.add_argument("--single", action="store_true", help="one process: module.train")
    p.add_argument("--state", help="where rank 0 saves the trained state (.npz)")
    p.add_argument("--timing", help="where rank 0 writes the step's time split (.json)")
    args = p.parse_args(argv)

    comm = None
    if not args.single:
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
    rank, size = (comm.rank, comm.size) if comm is not None else (0, 1)
    threads = args.threads or max(1, (os.cpu_count() or 1) // size)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)  # before the module (and its BLAS) loads
    sys.path.insert(0, os.path.abspath(args.module_dir))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import mlp_w2
    from data import make_data

    X, Y = make_data(args.examples)
    batches = args.examples // args.batch
    costs, compute, reduce = [], [], []
    for step in range(args.steps):
        start = (step % batches) * args.batch
        if comm is None:
            cols = slice(start, start + args.batch)
            t0 = time.perf_counter()
            costs.append(float(mlp_w2.train(X[:, cols], Y[:, cols])))
            compute.append(time.perf_counter() - t0)
            continue
        cols = shard(start, start + args.batch, rank, size)
        t0 = time.perf_counter()
        cost, grads = mlp_w2.train_gradients(X[:, cols], Y[:, cols])
        t1 = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, grads, op=MPI.SUM)  # a sum cost: the sum is the gradient
        t2 = time.perf_counter()
        mlp_w2.train_apply(grads)
        t3 = time.perf_counter()
        costs.append(float(cost))
        compute.append((t1 - t0) + (t3 - t2))
        reduce.append(t2 - t1)

    costs = np.array(costs)
    if comm is not None:  # the minibatch's cost is the sum of the shards'
        costs = comm.reduce(costs, op=MPI.SUM, root=0)
        state = mlp_w2.state()
        first = comm.bcast(state if rank == 0 else None, root=0)
        spread = comm.reduce(max(float(np.max(np.abs(state[k] - first[k]))) for k in state),
                             op=MPI.MAX, root=0)
        compute = comm.gather(compute, root=0)
        reduce = comm.gather(reduce, root=0)
    if rank != 0:
        return 0
    for step in range(0, args.steps, max(1, args.steps // 8)):
        print(f"step {step + 1:4d}  cost per point {costs[step] / args.batch:.4f}")
    Xt, Yt = make_data(1000, seed=1)
    held_out = float(np.mean(np.sum((mlp_w2.predict(Xt) - Yt) ** 2, axis=0)))
    print(f"step {args.steps:4d}  cost per point {costs[-1] / args.batch:.4f}; held out "
          f"{held_out:.4f} (each target's mean: "
          f"{float(np.mean(np.sum((Yt - Yt.mean(1, keepdims=True)) ** 2, axis=0))):.4f})")
    skip = min(5, args.steps - 1)  # the first calls plan the workspace
    timing = {"ranks": size, "threads_per_rank": threads, "batch": args.batch,
              "gradient_bytes": 0 if comm is None else int(grads.nbytes)}
    if comm is None:
        timing["compute_s"] = float(np.median(compute[skip:]))
        timing["allreduce_s"] = 0.0
    else:
        print(f"{size} ranks; parameters identical on every rank: largest difference {spread:g}")
        # a step waits for the slowest rank: the largest of the ranks' medians
        timing["compute_s"] = max(float(np.median(c[skip:])) for c in compute)
        timing["allreduce_s"] = max(float(np.median(r[skip:])) for r in reduce)
    timing["step_s"] = timing["compute_s"] + timing["allreduce_s"]
    print(f"step time {timing['step_s'] * 1e3:.2f} ms: compute {timing['compute_s'] * 1e3:.2f} "
          f"ms, all-reduce of {timing['gradient_bytes'] / 1e6:.2f} MB "
          f"{timing['allreduce_s'] * 1e3:.2f} ms ({threads} threads per rank)")
    if args.state:
        os.makedirs(os.path.dirname(os.path.abspath(args.state)), exist_ok=True)
        mlp_w2.save(args.state)
    if args.timing:
        with open(args.timing, "w") as f:
            json.dump(timing, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
