"""Walks along an axis on CUDA (``AxisStep``): cumsum, cumprod, argmax and the positions of
nonzero elements, in two forms chosen at run time by the sizes.

- A thread per row, walking it in order (as the CPU does): many short rows, or rows along a
  strided axis with many of them side by side (a cumsum down the columns of a wide matrix:
  neighbouring threads read neighbouring elements).
- Tiles of a row shared by the threads of a block: long rows, or few of them. A row is cut
  into tiles of whole rounds of ROUND elements, a block to a tile; in a round each thread
  takes ITEMS elements side by side and walks them in order, and the block combines the
  threads' results by a scan (or, for argmax, a tree) in shared memory. With more than one
  tile to a row, a first kernel reduces each tile into the module's partials buffer, a
  second scans them along the row (a block per row), and a third walks each tile from its
  offset. Deterministic: where a row's elements are combined depends on the sizes alone
  (no atomics), so a cumsum gives the same bits every run (not numpy's: its sums are
  grouped otherwise). argmax and the positions are exact either way.

The random streams' walks and argsort stay a thread per row (``kernels.axis_kernel``).
"""

from codegen.backends import cexpr, ckernel
from codegen.backends.ckernel import Kernel

#: the ops that may be walked by tiles
TILED_OPS = ("add", "mul", "argmax", "positions")
#: elements each thread takes per round, side by side; a round is THREADS * ITEMS elements
ITEMS = 8
#: rows this long or longer take tiles (a block or more each) when they are few (under
#: MANY_ROWS) or when their axis is the contiguous one: a first choice, not yet measured on
#: a device
TILED_MIN, MANY_ROWS = 256, 4096
#: a tile is at least this many rounds of a row; at most PARTIAL_TILES tiles of all rows
#: together have their partial results in the partials buffer (the rest: longer tiles)
TILE_ROUNDS, PARTIAL_TILES = 4, 2048


def kernels(step, threads, one_thread_per_row):
    """(C lines of the kernels and the launching function, prototypes, the launching call)
    of a walk along one axis; ``one_thread_per_row``: the kernel that walks a row per thread
    (``kernels.axis_kernel``)."""
    params, args, outer, base, out_base = ckernel.axis_signature(step)
    names = [p.split()[-1] for p in params]
    x = step.x
    rows = " * ".join(f"n{j}" for j in range(len(outer))) or "1"
    extra = ["cg_index cg_tiles", "cg_index cg_tile_len", "char* cg_partials"]
    extra_args = ["tiles", "tile_len", "cg_partials"]
    origins = [(o.text, o.where) for o in step.origins]
    walk = _Walk(step, threads, outer, base, out_base)
    tiled = Kernel(f"{step.name}_tiled", params + extra, names + extra_args, origins,
                   walk.tiled(), "__global__ void")
    c_lines = one_thread_per_row.c_lines + [""] + tiled.c_lines
    run = ckernel._signature("static void", f"{step.name}_run", params, " {")
    body = [f"const cg_index rows = {rows};",
            f"if (rows == 0 || m < {TILED_MIN}",
            f"        || (rows >= {MANY_ROWS} && {x.name}_s{step.axis} != 1)) {{",
            "    /* a thread per row */",
            f"    CG_LAUNCH({step.name}, cg_blocks(rows), {threads}, {', '.join(names)});",
            "    return;",
            "}",
            f"/* tiles of whole rounds of {threads * ITEMS} elements, at most {PARTIAL_TILES} "
            "of them in all */",
            f"const cg_index round_len = {threads * ITEMS};",
            f"cg_index tiles = (m + {TILE_ROUNDS} * round_len - 1) / ({TILE_ROUNDS} * round_len);",
            f"const cg_index most = rows >= {PARTIAL_TILES} ? 1 : {PARTIAL_TILES} / rows;",
            "if (tiles > most) tiles = most;",
            "const cg_index tile_len = ((m + tiles - 1) / tiles + round_len - 1) / round_len "
            "* round_len;",
            "tiles = (m + tile_len - 1) / tile_len;  /* none of them empty */",
            "const unsigned int blocks = rows * tiles > 65535 ? 65535 : "
            "(unsigned int)(rows * tiles);"]
    call = f"{', '.join(names + extra_args)}"
    if tiles_needed := walk.partial_kernels():
        reduce_k, scan_k = (Kernel(f"{step.name}_{what}", params + extra, names + extra_args,
                                   origins, lines, "__global__ void")
                            for what, lines in zip(("tile_totals", "tile_offsets"),
                                                   tiles_needed))
        c_lines += [""] + reduce_k.c_lines + [""] + scan_k.c_lines
        body += ["if (tiles > 1) {  /* each tile's total, then their scan along the row */",
                 f"    CG_LAUNCH({reduce_k.name}, blocks, {threads}, {call});",
                 f"    CG_LAUNCH({scan_k.name}, rows > 65535 ? 65535 : (unsigned int)rows, "
                 f"{threads}, {call});"]
        if step.op == "argmax":  # the tiles' best elements make the row's
            body += ["    return;"]
        body += ["}"]
    body += [f"CG_LAUNCH({tiled.name}, blocks, {threads}, {call});"]
    run += ["    " + line for line in body] + ["}"]
    prototypes = one_thread_per_row.prototype + tiled.prototype
    return c_lines + [""] + run, prototypes, f"{step.name}_run({', '.join(args)})"


class _Walk:
    """The C lines of a tiled walk's kernels, for one step."""

    def __init__(self, step, threads, outer, base, out_base):
        self.step, self.threads, self.outer = step, threads, outer
        self.base, self.out_base = base, out_base
        x, out = step.x, step.out
        self.ctype, self.otype = cexpr.CTYPES[x.dtype], cexpr.CTYPES[out.dtype]
        self.load = f"row[k * {x.name}_s{step.axis}]"
        self.out_s = f"{out.name}_s{step.out_axes().index(step.axis)}" \
            if step.op != "argmax" else None
        # the type a scan carries: the output's (a running sum or product), or a count
        self.acc = "int64_t" if step.op == "positions" else self.otype
        self.ident = "1" if step.op == "mul" else "0"

    def combine(self, a, b):
        return f"{a} * {b}" if self.step.op == "mul" else f"{a} + {b}"

    def value(self, k_load):
        """A walked element as the scan carries it."""
        if self.step.op == "positions":
            return f"(int64_t)({k_load} != 0)"
        return f"({self.acc}){k_load}"

    def row_start(self, block, what="tile"):
        """Lines finding the row (its outer indices, ``row`` and ``dst``) of block ``block``
        (a tile of row ``block / cg_tiles``, or a row) and the tile's elements."""
        lines = []
        r = f"{block} / cg_tiles" if what == "tile" else block
        outer = self.outer
        if outer:
            lines.append(f"cg_index rest = {r};")
            for j in reversed(range(1, len(outer))):
                lines += [f"const cg_index i{j} = rest % n{j};", f"rest /= n{j};"]
            lines.append("const cg_index i0 = rest;")
        lines += ckernel.axis_row_pointers(self.step, self.base, self.out_base)
        if what == "tile":
            lines += [f"const cg_index tile = {block} % cg_tiles;",
                      "const cg_index start = tile * cg_tile_len;",
                      "const cg_index end = start + cg_tile_len < m ? start + cg_tile_len : m;"]
        return lines

    def blocks_loop(self, total, body):
        """A loop giving each block its items (``b``) of ``total``, blocks apart: every
        thread of a block takes the same trips (its barriers need all of them)."""
        return ([f"for (cg_index b = blockIdx.x; b < {total}; b += gridDim.x) {{"]
                + ["    " + line for line in body] + ["}"])

    # -- the scans (cumsum, cumprod, positions)

    def block_scan(self, value):
        """Lines of an inclusive scan of the threads' ``value`` (in thread order) in shared
        memory, doubly buffered; after them ``before`` is the combination of the threads
        ahead of this one (valid from thread 1 on) and ``all`` of every thread's."""
        t, n = self.threads, "blockDim.x"
        return [f"cg_scan[threadIdx.x] = {value};",
                "__syncthreads();",
                "int from = 0;",
                f"for (unsigned int off = 1; off < {n}; off <<= 1) {{",
                f"    {self.acc} v = cg_scan[from * {t} + threadIdx.x];",
                "    if (threadIdx.x >= off) v = "
                + self.combine(f"cg_scan[from * {t} + threadIdx.x - off]", "v") + ";",
                f"    cg_scan[(1 - from) * {t} + threadIdx.x] = v;",
                "    from = 1 - from;",
                "    __syncthreads();",
                "}",
                f"const {self.acc} before = threadIdx.x > 0",
                f"        ? cg_scan[from * {t} + threadIdx.x - 1] : ({self.acc}){self.ident};",
                f"const {self.acc} all = cg_scan[from * {t} + {n} - 1];",
                "__syncthreads();  /* read before the next scan writes */"]

    def tiled(self):
        """The kernel walking tiles: a block to a tile, from the tile's offset (the partials
        buffer's, with more than one tile to a row). argmax: the tile's best element."""
        if self.step.op == "argmax":
            return self.argmax_tiles(final=True)
        t, acc = self.threads, self.acc
        store = ([f"if (found < count) dst[found * {self.out_s}] = k;"]
                 if self.step.op == "positions" else [f"dst[k * {self.out_s}] = found;"])
        body = self.row_start("b") + [
            "/* what the tiles ahead of this one come to (none for the row's first) */",
            f"{acc} carry = tile > 0 ? (({acc}*)cg_partials)[b] : ({acc}){self.ident};",
            "int have = tile > 0;",
            f"for (cg_index chunk = start; chunk < end; chunk += {t * ITEMS}) {{",
            f"    const cg_index first = chunk + threadIdx.x * (cg_index){ITEMS};",
            f"    {acc} mine = ({acc}){self.ident};",
            "    int count_mine = 0;",
            f"    for (int u = 0; u < {ITEMS} && first + u < end; u++) {{",
            "        const cg_index k = first + u;",
            f"        const {acc} v = {self.value(self.load)};",
            "        mine = count_mine++ ? " + self.combine("mine", "v") + " : v;",
            "    }"]
        body += ["    " + line for line in self.block_scan("mine")]
        # the walk again, from what comes before each thread's first element: the running
        # value starts from the element itself where nothing does (a first -0.0 stays -0.0)
        body += [
            f"    {acc} ahead = carry;",
            "    int has_ahead = have;",
            "    if (threadIdx.x > 0) {",
            "        ahead = have ? " + self.combine("carry", "before") + " : before;",
            "        has_ahead = 1;",
            "    }",
            f"    {acc} running = ({acc}){self.ident};",
            f"    for (int u = 0; u < {ITEMS} && first + u < end; u++) {{",
            "        const cg_index k = first + u;",
            f"        const {acc} v = {self.value(self.load)};",
            "        running = u ? " + self.combine("running", "v") + " : v;"]
        if self.step.op == "positions":
            body += ["        if (v) {",
                     "            const int64_t found = ahead + running - 1;",
                     "            " + store[0],
                     "        }"]
        else:
            body += ["        const " + acc + " found = has_ahead ? "
                     + self.combine("ahead", "running") + " : running;",
                     "        " + store[0]]
        body += ["    }",
                 "    carry = have ? " + self.combine("carry", "all") + " : all;",
                 "    have = 1;",
                 "}"]
        return ([f"__shared__ {acc} cg_scan[{2 * t}];"]
                + self.blocks_loop("(cg_index)(" + self._rows() + ") * cg_tiles", body))

    def _rows(self):
        return " * ".join(f"n{j}" for j in range(len(self.outer))) or "1"

    def partial_kernels(self):
        """(the lines of the kernel reducing each tile into the partials buffer, those of
        the kernel scanning them along each row)."""
        if self.step.op == "argmax":
            return self.argmax_tiles(final=False), self.argmax_rows()
        t, acc = self.threads, self.acc
        total = (self.row_start("b")
                 + [f"{acc} mine = ({acc}){self.ident};",
                    f"for (cg_index k = start + threadIdx.x; k < end; k += {t}) {{",
                    "    mine = " + self.combine("mine", self.value(self.load)) + ";",
                    "}"]
                 + self.tree("mine")
                 + [f"if (threadIdx.x == 0) (({acc}*)cg_partials)[b] = mine;"])
        totals = ([f"__shared__ {acc} cg_red[{t}];"]
                  + self.blocks_loop(f"(cg_index)({self._rows()}) * cg_tiles", total))
        # each row's tile totals into their exclusive scan, in place
        at = "b * cg_tiles + j"
        scan = [f"{acc}* part = ({acc}*)cg_partials;",
                f"{acc} carry = ({acc}){self.ident};",
                f"for (cg_index chunk = 0; chunk < cg_tiles; chunk += {t}) {{",
                "    const cg_index j = chunk + threadIdx.x;",
                f"    const {acc} mine = j < cg_tiles ? part[{at}] : "
                f"({acc}){self.ident};"]
        scan += ["    " + line for line in self.block_scan("mine")]
        scan += ["    if (j < cg_tiles) part[" + at + "] = "
                 + self.combine("carry", "before") + ";",
                 "    carry = " + self.combine("carry", "all") + ";",
                 "}"]
        scans = ([f"__shared__ {acc} cg_scan[{2 * t}];"]
                 + self.blocks_loop(f"(cg_index)({self._rows()})", scan))
        return totals, scans

    # -- argmax

    def argmax_tiles(self, final):
        """A block's tile of a row into its best element: into ``dst`` (``final``: the
        row's one tile) or into the partials buffer (the values first, then the indices)."""
        t = self.threads
        body = self.row_start("b") + [
            f"{self.ctype} best = ({self.ctype})0;",
            "cg_index best_k = -1;",
            f"for (cg_index k = start + threadIdx.x; k < end; k += {t}) {{",
            f"    const {self.ctype} v = {self.load};",
            "    if (best_k < 0 || (best == best && (v > best || v != v))) {",
            "        best = v;",
            "        best_k = k;",
            "    }",
            "}"]
        body += self.argmax_tree()
        if final:
            body += ["if (threadIdx.x == 0) dst[0] = best_k;"]
        else:
            body += ["if (threadIdx.x == 0) {",
                     f"    (({self.ctype}*)cg_partials)[b] = best;",
                     f"    ((int64_t*)(cg_partials + {PARTIAL_TILES * 8}))[b] = best_k;",
                     "}"]
        return self.argmax_shared() + self.blocks_loop(
            f"(cg_index)({self._rows()}) * cg_tiles", body)

    def argmax_rows(self):
        """Each row's tiles' best elements (the partials buffer's) into the row's."""
        t = self.threads
        body = self.row_start("b", what="row") + [
            f"const {self.ctype}* values = (const {self.ctype}*)cg_partials + b * cg_tiles;",
            f"const int64_t* at = (const int64_t*)(cg_partials + {PARTIAL_TILES * 8}) "
            "+ b * cg_tiles;",
            f"{self.ctype} best = ({self.ctype})0;",
            "cg_index best_k = -1;",
            f"for (cg_index j = threadIdx.x; j < cg_tiles; j += {t}) {{",
            f"    const {self.ctype} v = values[j];",
            "    if (best_k < 0 || (best == best && (v > best || v != v))) {",
            "        best = v;",
            "        best_k = at[j];",
            "    }",
            "}"]
        body += self.argmax_tree() + ["if (threadIdx.x == 0) dst[0] = best_k;"]
        return self.argmax_shared() + self.blocks_loop(f"(cg_index)({self._rows()})", body)

    def argmax_shared(self):
        return [f"__shared__ {self.ctype} cg_best[{self.threads}];",
                f"__shared__ cg_index cg_best_k[{self.threads}];"]

    def argmax_tree(self):
        """Lines combining the threads' best elements (``best``, ``best_k``; -1: none) on
        thread 0 by a tree in shared memory: a NaN before any number, a larger value before
        a smaller, then the smaller index (the first maximal element, as in order)."""
        return ["cg_best[threadIdx.x] = best;",
                "cg_best_k[threadIdx.x] = best_k;",
                "__syncthreads();",
                "for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {",
                "    if (threadIdx.x < s) {",
                f"        const {self.ctype} v = cg_best[threadIdx.x + s];",
                "        const cg_index j = cg_best_k[threadIdx.x + s];",
                f"        const {self.ctype} w = cg_best[threadIdx.x];",
                "        const cg_index i = cg_best_k[threadIdx.x];",
                "        if (j >= 0 && (i < 0 || (v != v ? w == w || j < i",
                "                                  : w == w && (v > w || (v == w && j < i))))) {",
                "            cg_best[threadIdx.x] = v;",
                "            cg_best_k[threadIdx.x] = j;",
                "        }",
                "    }",
                "    __syncthreads();",
                "}",
                "best_k = cg_best_k[0];",
                "best = cg_best[0];",
                "__syncthreads();  /* read before the next tile writes */"]

    def tree(self, value):
        """Lines combining the threads' ``value`` on thread 0 by a tree in shared ``cg_red``
        (``kernels._tree`` without its last rounds as warp shuffles), every thread taking
        part, then free for the next tile."""
        return [f"cg_red[threadIdx.x] = {value};",
                "__syncthreads();",
                "for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {",
                "    if (threadIdx.x < s) cg_red[threadIdx.x] = "
                + self.combine("cg_red[threadIdx.x]", "cg_red[threadIdx.x + s]") + ";",
                "    __syncthreads();",
                "}",
                f"{value} = cg_red[0];",
                "__syncthreads();  /* read before the next tile writes */"]
