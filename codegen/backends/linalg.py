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
- qr: Householder reflectors, as LAPACK's geqr2 and org2r (R's diagonal of LAPACK's signs),
  on the columns: each reflector found on one thread, applied to the columns beside it by
  all, a column each.
- svd: one-sided Jacobi rotations of the columns of a (or of a^T, the tall one), each
  pair's angle on one thread, the rotation of its rows by all; the left vectors completed
  to a basis where the singular values leave them short.
- eigh, eigvalsh: cyclic Jacobi rotations of the symmetric matrix that the triangle read
  stands for (``work``), sweep after sweep, each pair (p, q) in order, until no element off
  the diagonal is left (one negligible beside both its diagonal elements is set to zero
  from the fifth sweep on); the rotations accumulated into the eigenvectors. The
  eigenvalues are then sorted, ascending, with their vectors. Fifty sweeps without
  convergence stop it; a matrix with a NaN or an infinity gives NaNs (as numpy does).

Each kernel returns 0, or 1 when the matrix stopped it (nothing is written then but the
step's own output and work buffer).
"""

from dataclasses import dataclass, replace

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


#: The kernel's own names of its arrays (``cg_a_s0`` their strides), by role: whatever the
#: user's arrays are called (``i``, ``n``, ``tau``), none meets a local of the kernel.
ROLES = {"a": "cg_a", "b": "cg_b", "out": "cg_x", "work": "cg_w"}


def _arrays(step):
    """(field, kernel name, ArrayRef, role) of each array of ``step``: the others (``cg_o0``,
    ``cg_o1``) between ``out`` and ``work``."""
    out = [(f, ROLES[f], getattr(step, f), r) for f, r in [("a", "in"), ("b", "in"),
                                                          ("out", "out")]]
    out += [("others", f"cg_o{k}", ref, "out") for k, ref in enumerate(step.others)]
    out.append(("work", ROLES["work"], step.work, "out"))
    return [item for item in out if item[2] is not None]


def _local(step):
    """``step`` with its arrays under the kernel's names."""
    def local(ref, name):
        return ref and replace(ref, name=name)
    return replace(step, **{f: local(getattr(step, f), name) for f, name in ROLES.items()},
                   others=tuple(local(r, f"cg_o{k}") for k, r in enumerate(step.others)))


def signature(step):
    """(params, args) of the kernel of ``step``: n, then m (the right-hand sides' columns:
    1 for a vector b, n for the inverse; qr's: a's), then each array's pointer and two
    strides (a vector's second stride 0: it is a column), the params under ``ROLES``'
    names, the args the program's arrays."""
    params, args = ["cg_index n"], [step.a.dims[0]]
    if step.op in ("solve", "matrix_inverse", "qr", "svd"):
        params.append("cg_index m")
        args.append(step.m)
    for field, name, ref, role in _arrays(step):
        const = "const " if role == "in" else ""
        params.append(f"{const}{cexpr.CTYPES[ref.dtype]}* {name}")
        args.append(f"{ref.name}_p")
        if field == "work":
            continue  # C-contiguous: W(i, j) above, then LAPACK's b and pivots
        for k in range(2 if ref.dims else 0):
            params.append(f"cg_index {name}_s{k}")
            args.append(f"{ref.name}_s{k}" if k < len(ref.dims) else "0")
    return params, args


def _macros(step):
    """#define lines of the element accessors A(i, j), B(i, c), X(i, c), W(i, j), qr's
    Q(i, j), svd's U(i, j), the eigenvalues' E(i) and the singular values' S(i)."""
    out = []
    others = dict(zip({"qr": "Q", "svd": "US", "eigh": "E"}.get(step.op, ""), step.others))
    if step.op in ("eigvalsh", "svd") and not step.others:
        others = {"E" if step.op == "eigvalsh" else "S": step.out}
    for letter, ref in [("A", step.a), ("B", step.b), ("X", step.out), ("Q", others.get("Q")),
                        ("U", others.get("U"))]:
        if ref is not None and ref.dims:  # (a vector: a column, its second stride 0)
            out.append(f"#define {letter}(i, j) {ref.name}[(i) * {ref.name}_s0 + (j) * "
                       f"{ref.name}_s1]")
    for letter in "ES":  # the eigenvalues, the singular values
        if letter in others:
            out.append(f"#define {letter}(i) {others[letter].name}[(i) * "
                       f"{others[letter].name}_s0]")
    if step.work is not None and step.op != "svd":  # (qr's a is n x m; svd's: its own)
        out.append(f"#define W(i, j) {step.work.name}[(i) * {'m' if step.op == 'qr' else 'n'} "
                   f"+ (j)]")
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
    if step.op in ("eigh", "eigvalsh"):
        return (_lapack_eigh(step, T) if par.lapack else []) + _jacobi(step, par, T, f)
    if step.op == "qr":
        return (_qr_sizes(step) + (_lapack_qr(step, T) if par.lapack else [])
                + _householder(step, par, T, f))
    if step.op == "svd":
        return (["cg_index k = n < m ? n : m, r = n < m ? m : n;",
                 "int tall = n >= m;  /* else the rotations work on a^T */"]
                + (_lapack_svd(step, T) if par.lapack else []) + _one_sided(step, par, T, f))
    return lapack + _eliminate(step, par, T, f)


def _lapack_svd(step, T):
    """C lines that run svd through LAPACK's gesdd as numpy calls it (a column-major, U's
    and V^T's columns as numpy's) and return, where LAPACK was found."""
    x = "s" if step.out.dtype == "float32" else "d"
    mode = step.mode
    uc, vr = {"full": ("n", "m"), "reduced": ("k", "k"), "values": ("0", "0")}[mode]
    body = [f"cg_index uc = {uc}, vr = {vr};  /* U's columns, V^T's rows */",
            "int nn = (int)n, mm = (int)m, info = 0, ldu = (int)(n > 0 ? n : 1), "
            "ldvt = (int)(vr > 0 ? vr : 1), lwork = (int)(4 * k * k + 8 * k + r + 32 * (r + k));",
            f"char jobz = '{ {'full': 'A', 'reduced': 'S', 'values': 'N'}[mode] }';",
            f"{T}* z = {step.work.name};  /* a, column-major */",
            f"{T}* u = z + n * m;",
            f"{T}* vt = u + n * uc;",
            f"{T}* sv = vt + vr * m;",
            f"{T}* wk = sv + k;",
            "int* iw = (int*)(wk + lwork);",
            "int finite = 1;",
            "for (cg_index c = 0; c < m; c++) {",
            "    for (cg_index i = 0; i < n; i++) {",
            f"        z[i + c * n] = ({T})A(i, c);",
            "        finite &= z[i + c * n] - z[i + c * n] == 0;",
            "    }",
            "}",
            "if (!finite) return 1;  /* NaN or infinite: numpy's LinAlgError too */",
            f"cg_{x}gesdd(&jobz, &nn, &mm, z, &nn, sv, u, &ldu, vt, &ldvt, wk, &lwork, iw, "
            "&info);",
            "if (info != 0) return 1;  /* did not converge */",
            "for (cg_index i = 0; i < k; i++) S(i) = sv[i];"]
    if mode != "values":
        body += ["for (cg_index i = 0; i < n; i++) {",
                 "    for (cg_index c = 0; c < uc; c++) U(i, c) = u[i + c * n];",
                 "}",
                 "for (cg_index i = 0; i < vr; i++) {",
                 "    for (cg_index c = 0; c < m; c++) X(i, c) = vt[i + c * vr];",
                 "}"]
    return ([f"if (n >= 1 && m >= 1 && k < 16384 && r < {INT_MAX // 64} && cg_lapack_ready()) {{"]
            + ["    " + line for line in body + ["return 0;"]] + ["}"])


def _nonfinite(par, matrix, rows, cols):
    """C lines that set the shared ``bad`` where ``matrix`` (rows x cols) holds a NaN or an
    infinity (x - x is then NaN, not 0)."""
    return par.one(["bad = 0;",
                    f"for (cg_index i = 0; i < {rows}; i++) {{",
                    f"    for (cg_index c = 0; c < {cols}; c++) {{",
                    f"        if (!({matrix}(i, c) - {matrix}(i, c) == 0)) bad = 1;",
                    "    }",
                    "}"])


#: Sweeps of the one-sided Jacobi rotations before they stop the call
SVD_SWEEPS = 60


def _one_sided(step, par, T, f):
    """One-sided Jacobi (Hestenes): the columns of the tall one of a and a^T (r x k, in
    ``work``) rotated in pairs until each pair is orthogonal to within r eps, the rotations
    accumulated into V (k x k); the singular values are the columns' norms, sorted
    descending with their columns, U's columns the columns over their norms. For ``full``
    (and for a singular value of 0) the left vectors are completed to an orthonormal basis
    from the unit vectors, first first (numpy's U for a matrix of zeros), each orthogonalized
    twice against the columns before it, on one thread."""
    vectors = step.mode != "values"
    eps = "1.1920929e-07f" if f else "2.220446049250313e-16"
    norms = f"({step.work.name} + r * k + k * k)"
    lines = ["/* the tall one of a and a^T (r x k), V (k x k), the norms, a scratch column */",
             f"#define G(i, j) {step.work.name}[(i) * k + (j)]",
             f"#define V(i, j) {step.work.name}[r * k + (i) * k + (j)]"]
    if vectors:
        lines += ["/* the left and right vectors: U and V^T's transpose for a tall a, the other "
                  "way round for a wide one */",
                  "#define L(i, j) (*(tall ? &U(i, j) : &X(j, i)))",
                  "#define R(i, j) (*(tall ? &X(j, i) : &U(i, j)))"]
    lines += [f"{par.shared}int bad, done, turn;".strip(),
              f"{par.shared}{T} cos_t, sin_t;".strip()]
    copy = par.inner("c", "0", "k", f"G(i, c) = ({T})(tall ? A(i, c) : A(c, i));")
    identity = par.inner("c", "0", "k", f"V(i, c) = ({T})(i == c);") if vectors else []
    lines += par.rows("i", "0", "r", copy + (["if (i < k) {"] + ["    " + x for x in identity]
                                             + ["}"] if vectors else []))
    lines += par.sync()
    lines += _nonfinite(par, "G", "r", "k")
    angle = [f"{T} alpha = 0, beta = 0, gamma = 0;",
             "for (cg_index i = 0; i < r; i++) {",
             "    alpha += G(i, p) * G(i, p);",
             "    beta += G(i, q) * G(i, q);",
             "    gamma += G(i, p) * G(i, q);",
             "}",
             "turn = 0;",
             f"if (fabs{f}(gamma) > ({T})r * {eps} * sqrt{f}(alpha) * sqrt{f}(beta)) {{",
             f"    {T} zeta = (beta - alpha) / (2 * gamma);",
             f"    {T} t = 1 / (fabs{f}(zeta) + hypot{f}(({T})1, zeta));",
             "    if (zeta < 0) t = -t;",
             f"    cos_t = 1 / sqrt{f}(1 + t * t);",
             "    sin_t = cos_t * t;",
             "    turn = 1;",
             "    done = 0;",
             "}"]
    rotate = ["if (turn) {",
              f"    {T} gp = G(i, p), gq = G(i, q);",
              "    G(i, p) = cos_t * gp - sin_t * gq;",
              "    G(i, q) = sin_t * gp + cos_t * gq;"]
    if vectors:
        rotate += ["    if (i < k) {",
                   f"        {T} vp = V(i, p), vq = V(i, q);",
                   "        V(i, p) = cos_t * vp - sin_t * vq;",
                   "        V(i, q) = sin_t * vp + cos_t * vq;",
                   "    }"]
    rotate += ["}"]
    pair = par.one(angle) + par.rows("i", "0", "r", rotate) + par.sync()
    sweep = (par.one(["done = 1;",
                      f"if (sweep == {SVD_SWEEPS}) bad = 1;  /* did not converge */"])
             + ["if (bad) break;",
                "for (cg_index p = 0; p + 1 < k; p++) {",
                "    for (cg_index q = p + 1; q < k; q++) {"]
             + ["        " + line for line in pair] + ["    }", "}",
                                                         "if (done) break;"] + par.sync())
    lines += ["/* sweeps of a rotation for each pair of columns (p, q) not yet orthogonal, "
              "until none is left */",
              "for (int sweep = 0; ; sweep++) {"] + ["    " + x for x in sweep] + ["}"]
    lines += par.stop_if("bad")
    order = ["for (cg_index j = 0; j < k; j++) {",
             f"    {T} sum = 0;",
             "    for (cg_index i = 0; i < r; i++) sum += G(i, j) * G(i, j);",
             f"    {norms}[j] = sqrt{f}(sum);",
             "}",
             "/* descending (the first of equal ones first), with their columns */",
             "for (cg_index j = 0; j < k; j++) {",
             "    cg_index b = j;",
             "    for (cg_index c = j + 1; c < k; c++) {",
             f"        if ({norms}[c] > {norms}[b]) b = c;",
             "    }",
             "    if (b != j) {",
             f"        {T} v = {norms}[j];",
             f"        {norms}[j] = {norms}[b];",
             f"        {norms}[b] = v;",
             "        for (cg_index i = 0; i < r; i++) {",
             "            v = G(i, j);",
             "            G(i, j) = G(i, b);",
             "            G(i, b) = v;",
             "        }"]
    if vectors:
        order += ["        for (cg_index i = 0; i < k; i++) {",
                  "            v = V(i, j);",
                  "            V(i, j) = V(i, b);",
                  "            V(i, b) = v;",
                  "        }"]
    order += ["    }",
              f"    S(j) = {norms}[j];",
              "}"]
    lines += ["/* the singular values: the columns' norms */"] + par.one(order)
    if vectors:
        spare = f"({norms} + k)"
        lc = "(" + ("r" if step.mode == "full" else "k") + ")"
        lines += ["/* the vectors: the columns over their norms, V */"]
        lines += par.rows("i", "0", "r", [
            "for (cg_index j = 0; j < k; j++) {",
            f"    if ({norms}[j] > 0) L(i, j) = G(i, j) / {norms}[j];",
            "}",
            "if (i < k) {",
            "    for (cg_index j = 0; j < k; j++) R(i, j) = V(i, j);",
            "}"])
        lines += par.sync()
        complete = [f"for (cg_index j = 0; j < {lc}; j++) {{",
                    f"    if (j < k && {norms}[j] > 0) continue;",
                    "    for (cg_index e = 0; e < r; e++) {  /* the unit vectors in turn */",
                    f"        {T} size = 0;",
                    f"        for (cg_index i = 0; i < r; i++) {spare}[i] = i == e;",
                    "        for (int twice = 0; twice < 2; twice++) {",
                    "            for (cg_index c = 0; c < j; c++) {",
                    f"                {T} d = 0;",
                    f"                for (cg_index i = 0; i < r; i++) d += L(i, c) * {spare}[i];",
                    f"                for (cg_index i = 0; i < r; i++) {spare}[i] -= d * L(i, c);",
                    "            }",
                    "        }",
                    f"        for (cg_index i = 0; i < r; i++) size += {spare}[i] * {spare}[i];",
                    "        size = sqrt" + f + "(size);",
                    "        if (size * size * 2 * r >= 1) {  /* one of them has 1 / sqrt(r) or "
                    "more left */",
                    f"            for (cg_index i = 0; i < r; i++) L(i, j) = {spare}[i] / size;",
                    "            break;",
                    "        }",
                    "    }",
                    "}"]
        lines += ["/* the left vectors completed to an orthonormal basis */"] + par.one(complete)
        lines += ["#undef L", "#undef R"]
    else:
        lines += par.sync()
    lines += ["#undef G", "#undef V"]
    return lines + ["return 0;"] if par.tid is None else lines


def _qr_sizes(step):
    """C lines of qr's sizes: k the reflectors (min(n, m)), qc Q's columns, rr R's rows."""
    complete = step.mode == "complete"
    return ["cg_index k = n < m ? n : m;",
            f"cg_index qc = {'n' if complete else 'k'}, rr = {'n' if complete else 'k'};"]


def _lapack_qr(step, T):
    """C lines that run qr through LAPACK's geqrf and orgqr (numpy's) and return, where
    LAPACK was found; a workspace of 32 columns' worth for each's blocks."""
    x = "s" if step.out.dtype == "float32" else "d"
    q = bool(step.others)
    body = ["int nn = (int)n, mm = (int)m, kk = (int)k, qq = (int)qc, info = 0, "
            "lwork = (int)(32 * (m + qc));",
            f"{T}* z = {step.work.name};  /* a, column-major, n x max(m, qc) */",
            f"{T}* tau = z + n * (m > qc ? m : qc);",
            f"{T}* wk = tau + k;",
            "for (cg_index c = 0; c < m; c++) {",
            f"    for (cg_index i = 0; i < n; i++) z[i + c * n] = ({T})A(i, c);",
            "}",
            f"cg_{x}geqrf(&nn, &mm, z, &nn, tau, wk, &lwork, &info);",
            "/* R: the upper triangle of the first rr rows */",
            "for (cg_index i = 0; i < rr; i++) {",
            "    for (cg_index c = 0; c < m; c++) X(i, c) = c >= i ? z[i + c * n] : 0;",
            "}"]
    if q:
        body += [f"cg_{x}orgqr(&nn, &qq, &kk, z, &nn, tau, wk, &lwork, &info);",
                 "for (cg_index i = 0; i < n; i++) {",
                 "    for (cg_index c = 0; c < qc; c++) Q(i, c) = z[i + c * n];",
                 "}"]
    return ([f"if (n >= 1 && m >= 1 && n < {INT_MAX} && 32 * (m + qc) < {INT_MAX} && "
             "cg_lapack_ready()) {"]
            + ["    " + line for line in body + ["return 0;"]] + ["}"])


def _householder(step, par, T, f):
    """Householder QR as LAPACK's geqr2 and org2r: for each column j the reflector H = I -
    tau v v^T (v[j] = 1) that takes W(j:, j) to (beta, 0, ...), beta of the sign opposite to
    W(j, j), applied to the columns right of it; then Q = H_0 ... H_{k-1} I from the last
    reflector back. R's diagonal then has LAPACK's (numpy's) signs."""
    tau = f"{step.work.name}[n * m + j]"
    lines = [f"{par.shared}{T} scale;".strip()]
    lines += ["/* a copy of a, where the reflectors replace the columns they zero */"]
    lines += par.rows("i", "0", "n", par.inner("c", "0", "m", f"W(i, c) = ({T})A(i, c);"))
    lines += par.sync()
    reflector = [f"{T} alpha = W(j, j), big = 0, sum = 0, norm;",
                 "for (cg_index i = j + 1; i < n; i++) {",
                 f"    if (fabs{f}(W(i, j)) > big) big = fabs{f}(W(i, j));",
                 "}",
                 "for (cg_index i = j + 1; i < n && big > 0; i++) {",
                 f"    {T} v = W(i, j) / big;",
                 "    sum += v * v;",
                 "}",
                 f"norm = big * sqrt{f}(sum);  /* of W(j + 1:, j), scaled against overflow */",
                 "if (norm == 0) {  /* nothing to zero: H = I */",
                 f"    {tau} = 0;",
                 "    scale = 0;",
                 "} else {",
                 f"    {T} beta = -copysign{f}(hypot{f}(alpha, norm), alpha);",
                 f"    {tau} = (beta - alpha) / beta;",
                 "    scale = 1 / (alpha - beta);",
                 "    W(j, j) = beta;",
                 "}"]
    apply = [f"{T} s = W(j, c);",
             "for (cg_index i = j + 1; i < n; i++) s += W(i, j) * W(i, c);",
             f"s *= {tau};",
             "W(j, c) -= s;",
             "for (cg_index i = j + 1; i < n; i++) W(i, c) -= s * W(i, j);"]
    column = (par.one(reflector)
              + ["if (scale != 0) {"]
              + ["    " + line for line in par.rows("i", "j + 1", "n", ["W(i, j) *= scale;"])]
              + ["}"] + par.sync()
              + par.rows("c", "j + 1", "m", apply) + par.sync())
    lines += ["/* column j: its reflector (v below the diagonal, v[j] = 1), applied to the "
              "columns right of it, each on one thread */",
              "for (cg_index j = 0; j < k; j++) {"] + ["    " + line for line in column] + ["}"]
    lines += ["/* R: the upper triangle of the first rr rows */"]
    lines += par.rows("i", "0", "rr", par.inner("c", "0", "m",
                                                 "X(i, c) = c >= i && i < k ? W(i, c) : 0;"))
    if step.others:
        back = [f"{T} s = Q(j, c);",
                "for (cg_index i = j + 1; i < n; i++) s += W(i, j) * Q(i, c);",
                f"s *= {tau};",
                "Q(j, c) -= s;",
                "for (cg_index i = j + 1; i < n; i++) Q(i, c) -= s * W(i, j);"]
        lines += ["/* Q: the identity, then each reflector from the last one back, applied to "
                  "the columns it changes */"]
        lines += par.rows("i", "0", "n", par.inner("c", "0", "qc", f"Q(i, c) = ({T})(i == c);"))
        lines += par.sync()
        lines += (["for (cg_index j = k - 1; j >= 0; j--) {"]
                  + ["    " + line for line in par.rows("c", "j", "qc", back) + par.sync()]
                  + ["}"])
    else:
        lines += par.sync()
    return lines + ["return 0;"] if par.tid is None else lines


def _lapack_eigh(step, T):
    """C lines that run eigh or eigvalsh through LAPACK's syevd (numpy's) and return, where
    LAPACK was found: at every order, as the rotations are slower than syevd from the
    smallest matrices on. The workspace is syevd's least (its vectors' 1 + 6n + 2n^2, enough
    for its blocked tridiagonal reduction), as one for the values alone."""
    x = "s" if step.out.dtype == "float32" else "d"
    vectors = step.op == "eigh"
    first, last = ("c", "n") if step.lower else ("0", "c + 1")
    body = ["int nn = (int)n, info = 0, lwork = (int)(1 + 6 * n + 2 * n * n), "
            "liwork = (int)(3 + 5 * n);",
            f"char jobz = '{'V' if vectors else 'N'}', uplo = '{'L' if step.lower else 'U'}';",
            f"{T}* z = {step.work.name};  /* a, column-major (LAPACK reads the same "
            f"triangle) */",
            f"{T}* w = z + n * n;",
            f"{T}* wk = w + n;",
            "int* iw = (int*)(wk + lwork);",
            "for (cg_index c = 0; c < n; c++) {",
            f"    for (cg_index i = 0; i < n; i++) z[i + c * n] = ({T})A(i, c);",
            "}",
            "int finite = 1;",
            "for (cg_index c = 0; c < n; c++) {",
            f"    for (cg_index i = {first}; i < {last}; i++) "
            "finite &= z[i + c * n] - z[i + c * n] == 0;  /* the triangle read */",
            "}",
            "if (!finite) {  /* NaN or infinite: NaNs, as numpy gives */",
            "    for (cg_index i = 0; i < n; i++) E(i) = NAN;",
            *(["    for (cg_index i = 0; i < n * n; i++) z[i] = NAN;"] if vectors else []),
            "} else {",
            f"    cg_{x}syevd(&jobz, &uplo, &nn, z, &nn, w, wk, &lwork, iw, &liwork, &info);",
            "    if (info != 0) return 1;  /* did not converge */",
            "    for (cg_index i = 0; i < n; i++) E(i) = w[i];",
            "}",
            ]
    if vectors:
        body += ["/* the eigenvectors, column-major: z's column j is X's */",
                 "for (cg_index i = 0; i < n; i++) {",
                 "    for (cg_index c = 0; c < n; c++) X(i, c) = z[i + c * n];",
                 "}"]
    return ["if (n >= 1 && n < 16384 && cg_lapack_ready()) {"] + \
        ["    " + line for line in body + ["return 0;"]] + ["}"]


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


#: Sweeps of the Jacobi rotations before they stop the call (a few to a dozen converge)
JACOBI_SWEEPS = 50


def _jacobi(step, par, T, f):
    vectors = step.op == "eigh"
    read = "c <= i" if step.lower else "c >= i"
    lines = [f"{par.shared}int bad, done, turn;".strip(),
             f"{par.shared}{T} cos_t, sin_t, tau;".strip()]
    copy = par.inner("c", "0", "n", f"W(i, c) = ({T})({read} ? A(i, c) : A(c, i));")
    if vectors:
        copy += par.inner("c", "0", "n", f"X(i, c) = ({T})(i == c);")
    lines += ["/* the symmetric matrix of the triangle read"
              + (", and the eigenvectors from the identity" if vectors else "") + " */"]
    lines += par.rows("i", "0", "n", copy)
    lines += par.sync()
    lines += _nonfinite(par, "W", "n", "n")
    nans = par.rows("i", "0", "n", ["E(i) = NAN;"]
                    + (par.inner("c", "0", "n", "X(i, c) = NAN;") if vectors else []))
    measure = [f"{T} off = 0;",
               "for (cg_index i = 0; i < n; i++) {",
               f"    for (cg_index c = i + 1; c < n; c++) off += fabs{f}(W(i, c));",
               "}",
               "done = off == 0;",
               f"if (!done && sweep == {JACOBI_SWEEPS}) bad = 1;  /* did not converge */"]
    angle = [f"{T} apq = W(p, q), app = W(p, p), aqq = W(q, q), g = 100 * fabs{f}(apq);",
             "turn = 0;",
             f"if (sweep > 3 && fabs{f}(app) + g == fabs{f}(app) && "
             f"fabs{f}(aqq) + g == fabs{f}(aqq)) {{",
             "    W(p, q) = 0;  /* negligible beside both diagonal elements */",
             "    W(q, p) = 0;",
             "} else if (apq != 0) {",
             f"    {T} h = aqq - app, t;",
             f"    if (fabs{f}(h) + g == fabs{f}(h)) {{",
             "        t = apq / h;",
             "    } else {",
             f"        {T} theta = h / (2 * apq);",
             f"        t = 1 / (fabs{f}(theta) + sqrt{f}(1 + theta * theta));",
             "        if (theta < 0) t = -t;",
             "    }",
             f"    cos_t = 1 / sqrt{f}(1 + t * t);  /* of the rotation's angle t */",
             "    sin_t = t * cos_t;",
             "    tau = sin_t / (1 + cos_t);",
             "    W(p, p) = app - t * apq;",
             "    W(q, q) = aqq + t * apq;",
             "    W(p, q) = 0;",
             "    W(q, p) = 0;",
             "    turn = 1;",
             "}"]
    rotate = ["if (turn && k != p && k != q) {",
              f"    {T} g = W(k, p), h = W(k, q);",
              "    W(k, p) = g - sin_t * (h + g * tau);",
              "    W(k, q) = h + sin_t * (g - h * tau);",
              "    W(p, k) = W(k, p);",
              "    W(q, k) = W(k, q);",
              "}"]
    if vectors:
        rotate += ["if (turn) {",
                   f"    {T} g = X(k, p), h = X(k, q);",
                   "    X(k, p) = g - sin_t * (h + g * tau);",
                   "    X(k, q) = h + sin_t * (g - h * tau);",
                   "}"]
    pair = par.one(angle) + par.rows("k", "0", "n", rotate) + par.sync()
    sweeps = (par.one(measure) + ["if (done || bad) break;",
                                  "for (cg_index p = 0; p + 1 < n; p++) {",
                                  "    for (cg_index q = p + 1; q < n; q++) {"]
              + ["        " + line for line in pair] + ["    }", "}"])
    swap = ["cg_index k = i;",
            "for (cg_index j = i + 1; j < n; j++) {",
            "    if (W(j, j) < W(k, k)) k = j;",
            "}",
            "if (k != i) {",
            f"    {T} v = W(i, i);",
            "    W(i, i) = W(k, k);",
            "    W(k, k) = v;"]
    if vectors:
        swap += ["    for (cg_index r = 0; r < n; r++) {",
                 "        v = X(r, i);",
                 "        X(r, i) = X(r, k);",
                 "        X(r, k) = v;",
                 "    }"]
    swap += ["}", "E(i) = W(i, i);"]
    rotations = (["/* sweeps of a rotation for each pair (p, q) that zeroes W(p, q), until no "
                  "element is left off the diagonal */",
                  "for (int sweep = 0; ; sweep++) {"] + ["    " + line for line in sweeps]
                 + ["}"] + par.stop_if("bad")
                 + ["/* the eigenvalues ascending (the first of equal ones first), with their "
                    "vectors */"]
                 + par.one(["for (cg_index i = 0; i < n; i++) {"]
                           + ["    " + line for line in swap] + ["}"]))
    lines += (["if (bad) {  /* NaN or infinite: NaNs, as numpy gives */"]
              + ["    " + line for line in nans + par.sync()] + ["} else {"]
              + ["    " + line for line in rotations] + ["}"])
    return lines + ["return 0;"] if par.tid is None else lines


def kernel(step, par=CPU, kind="CODEGEN_KERNEL int", extra=()):
    """The Kernel of ``step`` on a target: ``extra`` (params, args) appended (the GPU's
    fault flag)."""
    params, args = signature(step)
    params, args = params + [p for p, _ in extra], args + [a for _, a in extra]
    local = _local(step)
    macros = _macros(local)
    origins = [(o.text, o.where) for o in step.origins]
    k = Kernel(step.name, params, args, origins, body(local, par), kind)
    k.c_lines = (macros + k.c_lines
                 + [f"#undef {line.split()[1].split('(')[0]}" for line in macros])
    return k
