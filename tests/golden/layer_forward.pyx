# ================================================================ forward
cdef extern from *:
    """
    #ifdef CODEGEN_KERNELS_APART
    void forward_k1_sigmoid(
            cg_index n0,
            cg_index n1,
            const double* dot,
            cg_index dot_s0,
            cg_index dot_s1,
            const double* b,
            cg_index b_s0,
            double* sigmoid,
            cg_index sigmoid_s0,
            cg_index sigmoid_s1);
    #else
    CODEGEN_KERNELS_BEGIN

    /* (dot + b)   [tests/test_debug.py:22] */
    /* sigmoid((dot + b))   [tests/test_debug.py:22] */
    CODEGEN_KERNEL void forward_k1_sigmoid(
            cg_index n0,
            cg_index n1,
            const double* dot,
            cg_index dot_s0,
            cg_index dot_s1,
            const double* b,
            cg_index b_s0,
            double* sigmoid,
            cg_index sigmoid_s0,
            cg_index sigmoid_s1) {
        if (n1 == 1 && dot_s0 == 1 && b_s0 == 1 && sigmoid_s0 == 1) {
            #pragma omp simd
            for (cg_index i0 = 0; i0 < n0; i0++) {
                double t0 = (dot[i0] + b[i0]);
                double t1 = ((double)1 / (1 + exp(-t0)));
                sigmoid[i0] = t1;
            }
        } else {
            if (dot_s1 == 1 && sigmoid_s1 == 1) {
                if (cg_threads_allowed && cg_blas_ours && n0 * n1 >= 65536) {
                    #pragma omp parallel for schedule(static)
                    for (cg_index i0 = 0; i0 < n0; i0++) {
                        for (cg_index blk1 = 0; blk1 < n1; blk1 += 256) {
                            const cg_index blen1 = n1 - blk1 < 256 ? n1 - blk1 : 256;
                            double cgb0[256];
                            #pragma omp simd
                            for (cg_index j1 = 0; j1 < blen1; j1++) {
                                const cg_index i1 = blk1 + j1;
                                double t0 = (dot[i0 * dot_s0 + i1] + b[i0 * b_s0]);
                                cgb0[j1] = exp(-t0);
                            }
                            #pragma omp simd
                            for (cg_index j1 = 0; j1 < blen1; j1++) {
                                const cg_index i1 = blk1 + j1;
                                double t1 = ((double)1 / (1 + cgb0[j1]));
                                sigmoid[i0 * sigmoid_s0 + i1] = t1;
                            }
                        }
                    }
                } else {
                    for (cg_index i0 = 0; i0 < n0; i0++) {
                        for (cg_index blk1 = 0; blk1 < n1; blk1 += 256) {
                            const cg_index blen1 = n1 - blk1 < 256 ? n1 - blk1 : 256;
                            double cgb0[256];
                            #pragma omp simd
                            for (cg_index j1 = 0; j1 < blen1; j1++) {
                                const cg_index i1 = blk1 + j1;
                                double t0 = (dot[i0 * dot_s0 + i1] + b[i0 * b_s0]);
                                cgb0[j1] = exp(-t0);
                            }
                            #pragma omp simd
                            for (cg_index j1 = 0; j1 < blen1; j1++) {
                                const cg_index i1 = blk1 + j1;
                                double t1 = ((double)1 / (1 + cgb0[j1]));
                                sigmoid[i0 * sigmoid_s0 + i1] = t1;
                            }
                        }
                    }
                }
            } else {
                for (cg_index i0 = 0; i0 < n0; i0++) {
                    for (cg_index i1 = 0; i1 < n1; i1++) {
                        double t0 = (dot[i0 * dot_s0 + i1 * dot_s1] + b[i0 * b_s0]);
                        double t1 = ((double)1 / (1 + exp(-t0)));
                        sigmoid[i0 * sigmoid_s0 + i1 * sigmoid_s1] = t1;
                    }
                }
            }
        }
    }
    CODEGEN_KERNELS_END
    #endif
    """
    void forward_k1_sigmoid(
            cg_index n0,
            cg_index n1,
            const double* dot,
            cg_index dot_s0,
            cg_index dot_s1,
            const double* b,
            cg_index b_s0,
            double* sigmoid,
            cg_index sigmoid_s0,
            cg_index sigmoid_s1) nogil


_WORKSPACE_forward = threading.local()
# the workspace of the thread that called last, kept at hand: a thread-local lookup costs
# more than the small kernels it serves (both are read and set under the GIL, with no Python
# code in between)
cdef unsigned long _WORKSPACE_forward_thread = 0
cdef dict _WORKSPACE_forward_last = None
# shape checks (lhs, rhs, message, where, operands): what a failed one reports, read then
_CHECKS_forward = r"""
(
    ('W_n1', 'x_n0', 'dot: W columns must equal x rows', 'built at tests/test_debug.py:22: h = T.nnet.sigmoid(T.dot(W, x) + b)',
     (('W', ('W_n0', 'W_n1')), ('x', ('x_n0', 'x_n1'))), False),
    ('W_n0', 'b_n0', 'add: dimension 0 of dot and b must be equal', 'built at tests/test_debug.py:22: h = T.nnet.sigmoid(T.dot(W, x) + b)',
     (('dot', ('W_n0', 'x_n1')), ('b', ('b_n0', '1'))), False),
)"""


cdef tuple _run_forward(W, b, x, _allow_downcast, tuple _spare_arrays):
    """Compute forward from validated state and raw arguments; returns (outputs, new state).

    ``_spare_arrays``: None, or for each update an array (or None) that the new value may overwrite.
    """
    if not (_ready(x, NPY_FLOAT64, 2)):
        x = _convert_input(x, 'x', 'forward', np.dtype(np.float64), (False, False), _allow_downcast)
    cdef Py_ssize_t x_n0 = _dim(x, 0)
    cdef Py_ssize_t x_n1 = _dim(x, 1)
    cdef Py_ssize_t W_n0 = _dim(W, 0)
    cdef Py_ssize_t W_n1 = _dim(W, 1)
    cdef Py_ssize_t b_n0 = _dim(b, 0)
    if (W_n1 != x_n0  # dot: W columns must equal x rows
            or W_n0 != b_n0  # add: dimension 0 of dot and b must be equal
            ):
        raise _shape_failure(_CHECKS_forward, {'x_n0': x_n0, 'x_n1': x_n1, 'W_n0': W_n0, 'W_n1': W_n1, 'b_n0': b_n0, })
    # workspace: reused while the dims stay the same (one per thread)
    global _WORKSPACE_forward_thread, _WORKSPACE_forward_last
    cdef dict _ws
    if PyThread_get_thread_ident() == _WORKSPACE_forward_thread:
        _ws = _WORKSPACE_forward_last
    else:
        _ws = _WORKSPACE_forward.__dict__
        _WORKSPACE_forward_last = _ws
        _WORKSPACE_forward_thread = PyThread_get_thread_ident()
    if _ws.get("key") != (x_n1, W_n0, ):
        _ws["arrays"] = (
            _empty(NPY_FLOAT64, 2, W_n0, x_n1, 0, 0),
        )
        _ws["key"] = (x_n1, W_n0, )
    dot, = _ws["arrays"]
    sigmoid = _empty(NPY_FLOAT64, 2, W_n0, x_n1, 0, 0)
    cdef double* W_p = <double*>_data(W)
    cdef Py_ssize_t W_s0 = _stride(W, 0, sizeof(double))
    cdef Py_ssize_t W_s1 = _stride(W, 1, sizeof(double))
    cdef double* x_p = <double*>_data(x)
    cdef Py_ssize_t x_s0 = _stride(x, 0, sizeof(double))
    cdef Py_ssize_t x_s1 = _stride(x, 1, sizeof(double))
    cdef double* dot_p = <double*>_data(dot)
    cdef Py_ssize_t dot_s0 = _stride(dot, 0, sizeof(double))
    cdef Py_ssize_t dot_s1 = _stride(dot, 1, sizeof(double))
    cdef double* b_p = <double*>_data(b)
    cdef Py_ssize_t b_s0 = _stride(b, 0, sizeof(double))
    cdef Py_ssize_t b_s1 = _stride(b, 1, sizeof(double))
    cdef double* sigmoid_p = <double*>_data(sigmoid)
    cdef Py_ssize_t sigmoid_s0 = _stride(sigmoid, 0, sizeof(double))
    cdef Py_ssize_t sigmoid_s1 = _stride(sigmoid, 1, sizeof(double))
    cdef int _blas_threads
    with nogil:
        _blas_threads = cg_blas_enter()  # BLAS on this call's threads (blas_access)
        cg_gemm_d(W_n0, x_n1, W_n1, W_p, W_s0, W_s1, x_p, x_s0, x_s1, dot_p, dot_s0)  # dot(W, x)
        forward_k1_sigmoid(W_n0, x_n1, dot_p, dot_s0, dot_s1, b_p, b_s0, sigmoid_p, sigmoid_s0, sigmoid_s1)  # sigmoid((dot + b))
        cg_blas_leave(_blas_threads)
    return [sigmoid], []


def _impl_forward(W, b, x, _allow_downcast=None):
    """Compute forward from the given state and arguments; returns (outputs, new state)."""
    return _run_forward(W, b, x, _allow_downcast, None)


def forward(x):
    """forward(x: float64 matrix) -> float64 matrix
    x: float64 array of shape (x_n0, x_n1)"""
    cdef list _values = _state
    global _readers
    _lock_acquire()
    try:
        if _state_missing(_values):
            raise _unset_state('forward')
        # state by position: 0 W, 1 b
        _snapshot = (_values[0], _values[1], )
        _readers += 1
    finally:
        _lock_release()
    try:
        _outputs = _run_forward(_snapshot[0], _snapshot[1], x, None, None)[0]
    finally:
        _lock_acquire()
        _readers -= 1
        _lock_release()
    return _outputs[0]
