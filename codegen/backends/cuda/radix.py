"""A vector's argsort on CUDA: a radix sort shared by the whole grid.

From RADIX_MIN elements on (shorter vectors, and the rows of a matrix: a thread per row,
``kernels.axis_kernel``), the keys that order as the values (``ckernel.radix_key``, as many
bytes as the dtype) are sorted a byte at a time, least significant first, with the indices
beside them; each pass is stable, so equal keys keep their order and the result is numpy's
stable argsort. The vector is cut into tiles of TILE elements, a block to a tile; a pass is
three launches:

1. each tile's count of each byte value (``hist[value * tiles + tile]``, value-major);
2. the counts of each byte value scanned along the tiles (exclusive, in place), and the
   value's total: a thread per value, or a block per value past FEW_TILES tiles;
3. each tile moving its elements to their places: the totals scanned give each value's
   first place, the tile's scanned count where the tile's elements of that value go; in
   rounds of a block's worth of elements, a thread each, each element's rank among the
   round's elements of its value comes from those ahead of it in its warp, and the counts of
   the warps ahead (per value, scanned by the thread of that value).

The places depend on the keys alone, so the result is the same every run. The memory is
the step's own (``lowering.argsort_work``): two of keys, two of indices, 2048 words (the
values' totals here) and 256 counts per tile.
"""

from codegen.backends import cexpr, ckernel
from codegen.backends.ckernel import RADIX_MIN, Kernel
from codegen.lower.lowering import RADIX_TILE as TILE

#: up to this many tiles, one block scans the counts (a thread per byte value walking the
#: tiles); more take a block per value
FEW_TILES = 64


def passes(dtype):
    """The byte passes of a key of ``dtype``: its width."""
    return {"float64": 8, "int64": 8, "uint64": 8, "float32": 4, "int32": 4, "uint32": 4,
            "int16": 2, "uint16": 2}.get(dtype, 1)


def kernels(step, threads, one_thread_per_row):
    """(C lines of the kernels and the launching function, prototypes, the launching call)
    of a vector's argsort; ``one_thread_per_row``: the kernel that sorts it on one thread
    (below RADIX_MIN)."""
    assert threads == 256, "a thread per byte value in the offsets and the moves"
    params, args, _, _, _ = ckernel.axis_signature(step)
    names = [p.split()[-1] for p in params]
    x, out, work = step.x, step.out, step.work.name
    ctype = cexpr.CTYPES[x.dtype]
    s, d = f"{x.name}_s0", f"{out.name}_s0"
    origins = [(o.text, o.where) for o in step.origins]
    key = ckernel.radix_key(x.dtype, narrow=True)

    def kernel(what, params, body):
        return Kernel(f"{step.name}_{what}", params, [p.split()[-1] for p in params], origins,
                      body, "__global__ void")

    grid = ["for (cg_index k = blockIdx.x * (cg_index)blockDim.x + threadIdx.x; k < m;",
            "        k += (cg_index)gridDim.x * blockDim.x) {"]
    keys = kernel("keys", ["cg_index m", f"const {ctype}* {x.name}", f"cg_index {s}",
                           "uint64_t* keys", "int64_t* from"],
                  grid + [f"    const {ctype} v = {x.name}[k * {s}];"]
                  + ["    " + line for line in key]
                  + ["    keys[k] = u;", "    from[k] = k;", "}"])
    tiles_loop = ["for (cg_index tile = blockIdx.x; tile < tiles; tile += gridDim.x) {",
                  f"    const cg_index start = tile * {TILE};",
                  f"    const cg_index end = start + {TILE} < m ? start + {TILE} : m;"]
    digit = "(int)((keys[k] >> shift) & 255)"
    counts = kernel(
        "counts", ["cg_index m", "const uint64_t* keys", "int shift", "int64_t* hist",
                   "cg_index tiles"],
        ["__shared__ int cg_count[256];"] + tiles_loop
        + ["    cg_count[threadIdx.x] = 0;",
           "    __syncthreads();",
           "    for (cg_index k = start + threadIdx.x; k < end; k += blockDim.x)",
           f"        atomicAdd(&cg_count[{digit}], 1);  /* counts: the same in any order */",
           "    __syncthreads();",
           "    hist[threadIdx.x * tiles + tile] = cg_count[threadIdx.x];",
           "    __syncthreads();  /* read before the next tile clears them */",
           "}"])
    offsets = kernel(
        "offsets", ["int64_t* hist", "int64_t* totals", "cg_index tiles"],
        ["/* block v: the counts of byte value v along the tiles, scanned in place */",
         "__shared__ int64_t cg_scan[512];",
         "for (cg_index v = blockIdx.x; v < 256; v += gridDim.x) {",
         "    int64_t* counts = hist + v * tiles;",
         "    int64_t carry = 0;",
         "    for (cg_index chunk = 0; chunk < tiles; chunk += blockDim.x) {",
         "        const cg_index j = chunk + threadIdx.x;",
         "        const int64_t mine = j < tiles ? counts[j] : 0;"]
        + ["        " + line for line in block_scan("mine")]
        + ["        if (j < tiles) counts[j] = carry + before;",
           "        carry += all;",
           "    }",
           "    if (threadIdx.x == 0) totals[v] = carry;",
           "}"])
    few = kernel(
        "offsets_few", ["int64_t* hist", "int64_t* totals", "cg_index tiles"],
        ["/* thread v: the counts of byte value v along the tiles, scanned in place */",
         "int64_t carry = 0;",
         "for (cg_index j = 0; j < tiles; j++) {",
         "    const int64_t here = hist[threadIdx.x * tiles + j];",
         "    hist[threadIdx.x * tiles + j] = carry;",
         "    carry += here;",
         "}",
         "totals[threadIdx.x] = carry;"])
    moves = kernel(
        "moves", ["cg_index m", "const uint64_t* keys", "const int64_t* from",
                  "uint64_t* keys_to", "int64_t* to", "int shift", "const int64_t* hist",
                  "const int64_t* totals", "cg_index tiles"],
        ["__shared__ int64_t cg_scan[512];",
         "__shared__ int64_t cg_next[256];  /* value v's next place (thread v's) */",
         f"__shared__ int64_t cg_warps[{threads // 32}][256];  /* per warp and value */",
         "__shared__ int cg_digit[256];",
         "const unsigned int lane = threadIdx.x % 32, warp = threadIdx.x / 32;",
         "/* each value's first place: the totals of the values below it */",
         "const int64_t mine = totals[threadIdx.x];"]
        + block_scan("mine")
        + ["const int64_t first = before;"]
        + tiles_loop
        + ["    cg_next[threadIdx.x] = first + hist[threadIdx.x * tiles + tile];",
           "    for (cg_index round = start; round < end; round += blockDim.x) {",
           "        const cg_index k = round + threadIdx.x;",
           f"        const int d = k < end ? {digit} : 256;",
           "        cg_digit[threadIdx.x] = d;",
           f"        for (int w = 0; w < {threads // 32}; w++) cg_warps[w][threadIdx.x] = 0;",
           "        __syncthreads();",
           "        /* the rank among the warp's elements of the same value, and whether this",
           "           is its warp's last of them (which writes the warp's count) */",
           "        int rank = 0, last = 1;",
           "        for (unsigned int l = 0; l < 32; l++) {",
           "            const int other = cg_digit[warp * 32 + l];",
           "            if (other == d && l < lane) rank++;",
           "            if (other == d && l > lane) last = 0;",
           "        }",
           "        if (d < 256 && last) cg_warps[warp][d] = rank + 1;",
           "        __syncthreads();",
           "        /* thread v: value v's counts of the warps in order into their places */",
           "        int64_t next = cg_next[threadIdx.x];",
           f"        for (int w = 0; w < {threads // 32}; w++) {{",
           "            const int64_t here = cg_warps[w][threadIdx.x];",
           "            cg_warps[w][threadIdx.x] = next;",
           "            next += here;",
           "        }",
           "        cg_next[threadIdx.x] = next;",
           "        __syncthreads();",
           "        if (d < 256) {",
           "            const int64_t at = cg_warps[warp][d] + rank;",
           "            keys_to[at] = keys[k];",
           "            to[at] = from[k];",
           "        }",
           "        __syncthreads();  /* read before the next round writes */",
           "    }",
           "}"])
    out_k = kernel("indices", ["cg_index m", "const int64_t* from",
                               f"int64_t* {out.name}", f"cg_index {d}"],
                   grid + [f"    {out.name}[k * {d}] = from[k];", "}"])
    c_lines = one_thread_per_row.c_lines
    for k in (keys, counts, offsets, few, moves, out_k):
        c_lines += [""] + k.c_lines
    tiles_blocks = "tiles > 65535 ? 65535 : (unsigned int)tiles"
    run = ckernel._signature("static void", f"{step.name}_run", params, " {")
    run += ["    " + line for line in [
        f"if (m < {RADIX_MIN}) {{  /* one thread */",
        f"    CG_LAUNCH({step.name}, 1, {threads}, {', '.join(names)});",
        "    return;",
        "}",
        f"const cg_index tiles = (m + {TILE - 1}) / {TILE};",
        f"uint64_t* keys = (uint64_t*){work};",
        "uint64_t* keys_to = keys + m;",
        f"int64_t* from = {work} + 2 * m;",
        f"int64_t* to = {work} + 3 * m;",
        f"int64_t* totals = {work} + 4 * m;",
        f"int64_t* hist = {work} + 4 * m + 2048;",
        f"CG_LAUNCH({keys.name}, cg_blocks(m), {threads}, m, {x.name}, {s}, keys, from);",
        f"for (int shift = 0; shift < {8 * passes(x.dtype)}; shift += 8) {{",
        f"    CG_LAUNCH({counts.name}, {tiles_blocks}, {threads}, m, keys, shift, hist, "
        "tiles);",
        f"    if (tiles <= {FEW_TILES})",
        f"        CG_LAUNCH({few.name}, 1, {threads}, hist, totals, tiles);",
        "    else",
        f"        CG_LAUNCH({offsets.name}, 256, {threads}, hist, totals, tiles);",
        f"    CG_LAUNCH({moves.name}, {tiles_blocks}, {threads}, m, keys, from, keys_to, to,",
        "              shift, hist, totals, tiles);"]
        + ["    " + line for line in ckernel.RADIX_SWAP]
        + ["}",
        f"CG_LAUNCH({out_k.name}, cg_blocks(m), {threads}, m, from, {out.name}, {d});"]]
    run.append("}")
    return c_lines + [""] + run, one_thread_per_row.prototype, \
        f"{step.name}_run({', '.join(args)})"


def block_scan(value):
    """Lines of an exclusive scan of the threads' int64 ``value`` in shared ``cg_scan`` (of
    twice the block's threads), by doubling: ``before`` (the threads ahead of this one) and
    ``all``."""
    return ["cg_scan[threadIdx.x] = " + value + ";",
            "__syncthreads();",
            "int from_half = 0;",
            "for (unsigned int off = 1; off < blockDim.x; off <<= 1) {",
            "    int64_t v = cg_scan[from_half * blockDim.x + threadIdx.x];",
            "    if (threadIdx.x >= off)",
            "        v += cg_scan[from_half * blockDim.x + threadIdx.x - off];",
            "    cg_scan[(1 - from_half) * blockDim.x + threadIdx.x] = v;",
            "    from_half = 1 - from_half;",
            "    __syncthreads();",
            "}",
            "const int64_t before = threadIdx.x > 0",
            "        ? cg_scan[from_half * blockDim.x + threadIdx.x - 1] : 0;",
            "const int64_t all = cg_scan[from_half * blockDim.x + blockDim.x - 1];",
            "__syncthreads();  /* read before the next scan writes */"]
