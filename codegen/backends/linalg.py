"""C of the linear algebra steps (``LinalgStep``), written once for every target.

Each algorithm is a sequence of phases over the rows (or columns) of one square matrix: the
CPU runs a phase's rows in a loop on the calling thread; the GPU runs one block, a phase's
rows spread over its threads, with ``__syncthreads()`` between phases and the few serial
parts (a pivot's search, a diagonal element) on thread 0, shared through ``__shared__``
values. ``Par`` says how a target spells those; the algorithms below only use it.

- cholesky: the Cholesky-Crout order, a column at a time: its diagonal element, then each
  element below it, a dot product of two rows of the factor (contiguous). The factor is
  written into ``out``; its strict upper triangle is zero (transposed at the end for the
  upper factor). A diagonal that is not positive (or NaN) stops it.
- solve (general), matrix_inverse, det: Gaussian elimination with partial pivoting on a
  copy of a (``work``, the program's buffer: no memory of its own), the row of largest
  magnitude (the first of them) as pivot, as LAPACK's getrf; the right-hand sides (b, or
  the identity for the inverse) eliminated along, then back-substituted. A zero pivot
  stops it (the determinant is then 0).
- solve (lower or upper triangular): substitution, reading that triangle of a only; a zero
  on the diagonal stops it.

Each kernel returns 0, or 1 when the matrix stopped it (nothing is written then but the
step's own output and work buffer).
"""

from dataclasses import dataclass

from codegen.backends import cexpr
from codegen.backends.ckernel import GEMM_THREADS_MIN, Kernel


@dataclass(frozen=True)
class Par:
    """How a target runs the phases: ``tid``/``nthreads`` the C of a thread's index and the
    threads' count (None: one thread), ``barrier`` the C statement between phases,
    ``shared`` the storage class of the values thread 0 hands to the others, ``simd`` the
    pragma of a contiguous inner loop, ``fail`` the C statements that stop the kernel."""

    tid: str = None
    nthreads: str = None
    barrier: str = None
    shared: str = ""
    simd: str = None
    fail: tuple = ("return 1;",)
    lapack: bool = False  # large matrices through scipy's LAPACK (cg_lapack_ready)

    def rows(self, var, lo, hi, body):
        """``body`` for each ``var`` in [lo, hi), the rows spread over the threads."""
        if self.tid is None:
            head = f"for (cg_index {var} = {lo}; {var} < {hi}; {var}++) {{"
        else:
            head = (f"for (cg_index {var} = {lo} + {self.tid}; {var} < {hi}; "
                    f"{var} += {self.nthreads}) {{")
        return [head] + ["    " + line for line in body] + ["}"]

    def inner(self, var, lo, hi, body, reduction=None):
        """A loop of one thread over contiguous elements (vectorized on the CPU)."""
        pragma = ([f"{self.simd}{f' reduction({reduction})' if reduction else ''}"]
                  if self.simd else [])
        return pragma + [f"for (cg_index {var} = {lo}; {var} < {hi}; {var}++) {body}"]

    def sync(self):
        return [self.barrier] if self.barrier else []

    def one(self, body):
        """``body`` on one thread; the others wait for it."""
        if self.tid is None:
            return list(body) if len(body) == 1 else \
                ["{"] + ["    " + line for line in body] + ["}"]
        return ([f"if ({self.tid} == 0) {{"] + ["    " + line for line in body] + ["}"]
                + self.sync())

    def stop_if(self, flag):
        """Every thread stops when thread 0 set ``flag`` (read after a barrier)."""
        return [f"if ({flag}) {{"] + ["    " + line for line in self.fail] + ["}"]


CPU = Par(simd="#pragma omp simd", lapack=True)

#: From this order on the CPU factorizes through LAPACK (its blocked algorithms), below it
#: with the plain loops, which skip LAPACK's call overhead (a first
#: measurement on 2 cores, one op per call against numpy's: the loops took 0.6x numpy's
#: time at 50 and 1.3x to 3x at 200; with LAPACK from 96 on, 0.6x to 0.9x at 96 to 800).
LAPACK_MIN = 96
#: The Cholesky factor's block of columns (LAPACK's): its diagonal blocks through potrf, the
#: rest in blocks of as many columns, shared over the call's threads.
CHOLESKY_BLOCK = 64
#: LAPACK's sizes are C ints.
INT_MAX = 2147483647


def signature(step):
    """(params, args) of the kernel of ``step``: n, then m (the right-hand sides' columns:
    1 for a vector b, n for the inverse), then each array's pointer and two strides (a
    vector's second stride 0: it is a column)."""
    params, args = ["cg_index n"], [step.a.dims[0]]
    if step.op in ("solve", "matrix_inverse"):
        params.append("cg_index m")
        args.append(step.m)
    for ref, role in [(step.a, "in"), (step.b, "in"), (step.out, "out"), (step.work, "out")]:
        if ref is None:
            continue
        const = "const " if role == "in" else ""
        params.append(f"{const}{cexpr.CTYPES[ref.dtype]}* {ref.name}")
        args.append(f"{ref.name}_p")
        if ref is step.work:
            continue  # C-contiguous: W(i, j) above, then LAPACK's b and pivots
        for k in range(2 if ref.dims else 0):
            params.append(f"cg_index {ref.name}_s{k}")
            args.append(f"{ref.name}_s{k}" if k < len(ref.dims) else "0")
    return params, args


def _macros(step):
    """#define lines of the element accessors A(i, j), B(i, c), X(i, c), W(i, j)."""
    out = []
    for letter, ref in [("A", step.a), ("B", step.b), ("X", step.out)]:
        if ref is not None and ref.dims:
            out.append(f"#define {letter}(i, j) {ref.name}[(i) * {ref.name}_s0 + (j) * "
                       f"{ref.name}_s1]")
    if step.work is not None:
        out.append(f"#define W(i, j) {step.work.name}[(i) * n + (j)]")
    return out


def body(step, par):
    """The C lines of the kernel's body on a target (``par``)."""
    T = cexpr.CTYPES[step.out.dtype]
    f = "f" if step.out.dtype == "float32" else ""
    # (a triangular a is read where it is: LAPACK needs it in the result's type)
    lapack = _lapack(step, T) if par.lapack and (
        step.op != "solve" or step.structure == "general" or step.a.dtype == step.out.dtype) \
        else []
    if step.op == "cholesky":
        return lapack + _cholesky(step, par, T, f)
    if step.op == "solve" and step.structure != "general":
        return lapack + _triangular(step, par, T)
    return lapack + _eliminate(step, par, T, f)


def _lapack(step, T):
    """C lines that run the step through LAPACK and return, where the matrix is large and
    LAPACK was found. LAPACK is column-major: a row-major matrix is its transpose there."""
    x = "s" if step.out.dtype == "float32" else "d"
    op, structure = step.op, step.structure
    rhs = op in ("solve", "matrix_inverse")
    fits = [f"n >= {LAPACK_MIN}", f"n < {INT_MAX}"] + ([f"m < {INT_MAX}"] if rhs else [])
    if op == "cholesky":
        fits.append(f"{step.out.name}_s1 == 1 && {step.out.name}_s0 == n")
    elif structure != "general":  # a read in place: its rows or its columns contiguous
        a = step.a.name
        fits.append(f"(({a}_s1 == 1 && {a}_s0 >= n && {a}_s0 < {INT_MAX}) || "
                    f"({a}_s0 == 1 && {a}_s1 >= n && {a}_s1 < {INT_MAX}))")
    ready = "cg_lapack_ready() && cg_blas_ready()" if op == "cholesky" else "cg_lapack_ready()"
    lines = [f"if ({' && '.join(fits)} && {ready}) {{"]
    body = ["int nn = (int)n;"] + ([] if op == "solve" and structure != "general"
                                   else ["int info = 0;"])
    z = f"{step.work.name} + {'n * n' if structure == 'general' else '0'}" \
        if step.work is not None else None
    if op == "cholesky":
        k = CHOLESKY_BLOCK
        u = step.out.name
        body += ["/* the lower triangle of a, row-major: the upper one of a column-major "
                 "U, U^T U = a */",
                 "for (cg_index i = 0; i < n; i++) {",
                 f"    for (cg_index c = 0; c < n; c++) X(i, c) = c <= i ? ({T})A(i, c) : 0;",
                 "}",
                 f"/* by blocks of {k} columns, left to right: the diagonal block through potrf "
                 "on this thread, then the rows beside it (trtrs) and the rest of the matrix "
                 "(minus their product, gemm) by blocks of columns shared out over the call's "
                 "threads (cg_blas_split, as a product's). A block's arithmetic does not "
                 "depend on the thread that runs it: the bits do not depend on the thread "
                 "count */",
                 "char up = 'U', tr = 'T', no = 'N', nd = 'N';",
                 f"{T} minus = -1, one = 1;",
                 f"for (cg_index j0 = 0; j0 < n && info == 0; j0 += {k}) {{",
                 f"    int jb = (int)(n - j0 < {k} ? n - j0 : {k});",
                 f"    cg_index first = j0 + jb, blocks = (n - first + {k - 1}) / {k};",
                 f"    cg_{x}potrf(&up, &jb, {u} + j0 + j0 * n, &nn, &info);",
                 "    if (info != 0) break;  /* not positive definite (or NaN) */",
                 "    #pragma omp parallel if(cg_blas_split((double)(n - first) * (n - first) * "
                 f"jb, {GEMM_THREADS_MIN}))",
                 "    {",
                 "        #pragma omp for schedule(static, 1)",
                 "        for (cg_index b = 0; b < blocks; b++) {",
                 f"            cg_index c0 = first + b * {k};",
                 f"            int cols = (int)(n - c0 < {k} ? n - c0 : {k}), bad = 0;",
                 f"            cg_{x}trtrs(&up, &tr, &nd, &jb, &cols, {u} + j0 + j0 * n, &nn, "
                 f"{u} + j0 + c0 * n, &nn, &bad);",
                 "        }",
                 "        #pragma omp for schedule(static, 1)",
                 "        for (cg_index b = 0; b < blocks; b++) {",
                 f"            cg_index c0 = first + b * {k};",
                 f"            int cols = (int)(n - c0 < {k} ? n - c0 : {k}), "
                 "rows = (int)(c0 + cols - first);",
                 f"            cg_{x}gemm(&tr, &no, &rows, &cols, &jb, &minus, "
                 f"{u} + j0 + first * n, &nn, {u} + j0 + c0 * n, &nn, &one, "
                 f"{u} + first + c0 * n, &nn);",
                 "        }",
                 "    }",
                 "}",
                 "if (info != 0) return 1;",
                 "/* the products wrote below the diagonal blocks' diagonals (column-major) */",
                 "for (cg_index i = 0; i < n; i++) {",
                 "    for (cg_index c = i + 1; c < n; c++) X(i, c) = 0;",
                 "}"]
        if not step.lower:
            body += ["for (cg_index i = 1; i < n; i++) {",
                     "    for (cg_index c = 0; c < i; c++) {",
                     f"        {T} v = X(i, c);",
                     "        X(i, c) = X(c, i);",
                     "        X(c, i) = v;",
                     "    }",
                     "}"]
        return lines + ["    " + line for line in body + ["return 0;"]] + ["}"]
    if structure == "general":
        body += ["/* a, row-major: a^T column-major, which getrf factors; getrs with 'T' "
                 "then solves a x = b */",
                 "for (cg_index i = 0; i < n; i++) {",
                 f"    for (cg_index c = 0; c < n; c++) W(i, c) = ({T})A(i, c);",
                 "}",
                 f"int* ipiv = (int*)({step.work.name} + (n + {'m' if rhs else '0'}) * n);",
                 f"cg_{x}getrf(&nn, &nn, {step.work.name}, &nn, ipiv, &info);"]
        if op == "det":
            body += [f"{T} d = info > 0 ? 0 : 1;  /* info > 0: singular */",
                     "for (cg_index j = 0; j < n && info == 0; j++) {",
                     "    d *= W(j, j);",
                     "    if (ipiv[j] != j + 1) d = -d;",
                     "}",
                     f"{step.out.name}[0] = d;",
                     "return 0;"]
            return lines + ["    " + line for line in body] + ["}"]
        body += ["if (info > 0) return 1;  /* singular */"]
        first = f"({T})B(i, c)" if op == "solve" else f"({T})(i == c)"
        solve = ["char trans = 'T';",
                 f"cg_{x}getrs(&trans, &nn, &mm, {step.work.name}, &nn, ipiv, z, &nn, &info);"]
    else:
        first = f"({T})B(i, c)"
        a = step.a.name
        lower = "1" if structure == "lower" else "0"
        solve = ["/* a's rows contiguous: a^T column-major (the other triangle, "
                 "transposed); its columns: a itself */",
                 f"int rows = {a}_s1 == 1, lda = (int)(rows ? {a}_s0 : {a}_s1);",
                 f"char uplo = rows == {lower} ? 'U' : 'L', trans = rows ? 'T' : 'N', "
                 f"diag = 'N';",
                 f"cg_{x}trtrs(&uplo, &trans, &diag, &nn, &mm, ({T}*){a}, &lda, z, &nn, "
                 f"&info);"]
    share = ["cg_index c0, cols;",
             "cg_share(m, omp_get_thread_num(), omp_get_num_threads(), &c0, &cols);",
             "int mm = (int)cols, info = 0;",
             f"{T}* z = {z} + c0 * n;  /* its columns of b, column-major */",
             "for (cg_index c = c0; c < c0 + cols; c++) {",
             f"    for (cg_index i = 0; i < n; i++) z[i + (c - c0) * n] = {first};",
             "}",
             "if (cols > 0) {"] + ["    " + line for line in solve] + [
             "}",
             "if (info > 0) {  /* a zero on a triangle's diagonal: singular */",
             "    failed = 1;",
             "} else {",
             "    for (cg_index i = 0; i < n; i++) {",
             "        for (cg_index c = c0; c < c0 + cols; c++) X(i, c) = z[i + (c - c0) * n];",
             "    }",
             "}"]
    body += ["/* the right-hand sides shared out over the call's threads (cg_blas_split, as a "
             "product's), each solving its columns: a column's solution does not depend on "
             "the share that holds it */",
             "int failed = 0;",
             f"#pragma omp parallel if(cg_blas_split((double)n * n * m, {GEMM_THREADS_MIN})) "
             "reduction(|:failed)",
             "{"] + ["    " + line for line in share] + [
             "}",
             "return failed;"]
    return lines + ["    " + line for line in body] + ["}"]


def _cholesky(step, par, T, f):
    lines = [f"{par.shared}int bad;".strip()]
    lines += par.one(["bad = 0;"])
    lines += par.rows("i", "0", "n", par.inner("c", "i + 1", "n", "X(i, c) = 0;"))
    lines += par.sync()
    diagonal = ([f"{T} s = 0;"] + par.inner("k", "0", "j", "s += X(j, k) * X(j, k);", "+:s")
                + [f"s = ({T})A(j, j) - s;",
                   "if (s > 0) {",
                   f"    X(j, j) = sqrt{f}(s);",
                   "} else {",
                   "    bad = 1;  /* not positive definite (or NaN) */",
                   "}"])
    below = ([f"{T} s = 0;"] + par.inner("k", "0", "j", "s += X(i, k) * X(j, k);", "+:s")
             + [f"X(i, j) = (({T})A(i, j) - s) / X(j, j);"])
    column = (par.one(diagonal) + par.stop_if("bad") + par.rows("i", "j + 1", "n", below)
              + par.sync())
    lines += ["/* column j of the factor: its diagonal, then the elements below it */",
              "for (cg_index j = 0; j < n; j++) {"] + ["    " + line for line in column] + ["}"]
    if not step.lower:
        lines += ["/* the upper factor: L transposed, in place */"]
        lines += par.rows("i", "1", "n", [
            "for (cg_index c = 0; c < i; c++) {",
            f"    {T} v = X(i, c);",
            "    X(i, c) = X(c, i);",
            "    X(c, i) = v;",
            "}"])
        lines += par.sync()
    return lines + ["return 0;"] if par.tid is None else lines


def _eliminate(step, par, T, f):
    op = step.op
    rhs = op != "det"
    lines = [f"{par.shared}int bad;".strip(), f"{par.shared}cg_index piv;".strip()]
    if op == "det":
        lines.append(f"{par.shared}{T} sign;".strip())
    copy = par.inner("c", "0", "n", f"W(i, c) = ({T})A(i, c);")
    if op == "solve":
        copy += par.inner("c", "0", "m", f"X(i, c) = ({T})B(i, c);")
    elif op == "matrix_inverse":
        copy += par.inner("c", "0", "m", f"X(i, c) = ({T})(i == c);")
    lines += ["/* a copy of a to eliminate in" + (", and the right-hand sides" if rhs else "")
              + " */"]
    lines += par.rows("i", "0", "n", copy)
    lines += par.one(["bad = 0;"] + (["sign = 1;"] if op == "det" else []))
    pivot = [f"{T} best = fabs{f}(W(j, j));",
             "piv = j;",
             "for (cg_index i = j + 1; i < n; i++) {",
             f"    {T} v = fabs{f}(W(i, j));",
             "    if (v > best) {",
             "        best = v;",
             "        piv = i;",
             "    }",
             "}",
             "if (W(piv, j) == 0) {",
             "    bad = 1;  /* singular */",
             "}"] + (["if (piv != j) sign = -sign;"] if op == "det" else [])
    swap = (par.rows("c", "j", "n", [f"{T} v = W(j, c);", "W(j, c) = W(piv, c);",
                                     "W(piv, c) = v;"])
            + (par.rows("c", "0", "m", [f"{T} v = X(j, c);", "X(j, c) = X(piv, c);",
                                        "X(piv, c) = v;"]) if rhs else []))
    update = ([f"{T} f = W(i, j) / W(j, j);", "W(i, j) = f;"]
              + par.inner("c", "j + 1", "n", "W(i, c) -= f * W(j, c);")
              + (par.inner("c", "0", "m", "X(i, c) -= f * X(j, c);") if rhs else []))
    stop = ["break;  /* singular: the determinant is 0 */"] if op == "det" else par.fail
    column = (par.one(pivot) + ["if (bad) {"] + ["    " + line for line in stop] + ["}"]
              + ["if (piv != j) {"] + ["    " + line for line in swap] + ["}"] + par.sync()
              + par.rows("i", "j + 1", "n", update) + par.sync())
    lines += ["/* column j: the pivot's row swapped up, then eliminated from the rows below */",
              "for (cg_index j = 0; j < n; j++) {"] + ["    " + line for line in column] + ["}"]
    if op == "det":
        lines += par.one([f"{T} d = bad ? 0 : sign;",
                          "for (cg_index j = 0; j < n && !bad; j++) d *= W(j, j);",
                          f"{step.out.name}[0] = d;"])
    else:
        lines += _substitute(par, "W", "j = n - 1; j >= 0; j--", "0", "j", T)
    return lines + ["return 0;"] if par.tid is None else lines


def _substitute(par, matrix, walk, lo, hi, T):
    """Back (or forward) substitution into X of the triangle of ``matrix`` that ``walk``
    (the C of the column loop's header) and the rows [lo, hi) it updates select."""
    column = (par.rows("c", "0", "m", [f"X(j, c) /= {matrix}(j, j);"]) + par.sync()
              + par.rows("i", lo, hi, [f"{T} f = {matrix}(i, j);"]
                         + par.inner("c", "0", "m", "X(i, c) -= f * X(j, c);"))
              + par.sync())
    return ["/* x's row j, then its share taken from the other rows */",
            f"for (cg_index {walk}) {{"] + ["    " + line for line in column] + ["}"]


def _triangular(step, par, T):
    lower = step.structure == "lower"
    lines = [f"{par.shared}int bad;".strip()]
    lines += par.one(["bad = 0;",
                      "for (cg_index j = 0; j < n; j++) {",
                      "    if (A(j, j) == 0) bad = 1;  /* singular */",
                      "}"])
    lines += par.stop_if("bad")
    lines += ["/* x starts as b */"]
    lines += par.rows("i", "0", "n", par.inner("c", "0", "m", f"X(i, c) = ({T})B(i, c);"))
    lines += par.sync()
    if lower:
        lines += _substitute(par, "A", "j = 0; j < n; j++", "j + 1", "n", T)
    else:
        lines += _substitute(par, "A", "j = n - 1; j >= 0; j--", "0", "j", T)
    return lines + ["return 0;"] if par.tid is None else lines


def kernel(step, par=CPU, kind="CODEGEN_KERNEL int", extra=()):
    """The Kernel of ``step`` on a target: ``extra`` (params, args) appended (the GPU's
    fault flag)."""
    params, args = signature(step)
    params, args = params + [p for p, _ in extra], args + [a for _, a in extra]
    macros = _macros(step)
    origins = [(o.text, o.where) for o in step.origins]
    k = Kernel(step.name, params, args, origins, body(step, par), kind)
    k.c_lines = (macros + k.c_lines
                 + [f"#undef {line.split()[1].split('(')[0]}" for line in macros])
    return k
