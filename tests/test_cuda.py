"""The CUDA backend: modules built by nvcc (where it is installed) import without a GPU and
say why at their first call; with CODEGEN_CUDA_EMULATION the same .cu runs on the host and
trains the tutorial MLP as the CPU module does. Tests marked gpu need a real device."""

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import codegen
import codegen.tensor as T
from codegen.compile.module import load_module

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples", "mlp"))


def _mlp_module():
    from model import build_mlp, gradient_updates_momentum, make_data
    X, y = make_data()
    mlp = build_mlp(X)
    x, target = T.matrix("mlp_input"), T.vector("mlp_target")
    cost = mlp.squared_error(x, target)
    module = codegen.Module("mlp_cuda_test")
    module.add_function("train", [x, target], cost,
                        updates=gradient_updates_momentum(cost, mlp.params, 0.01, 0.9))
    module.add_function("predict", [x], mlp.output(x))
    return module, X, y


def _has_gpu():
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def test_emitted_cu_golden(cuda_emulated):
    """The CUDA layer of a small training step, byte for byte (CODEGEN_UPDATE_GOLDEN=1
    rewrites tests/golden/cuda_layer.cu): maps with their contiguous variant, a cost summed by
    blocks, a row sum launched beside it, a product, and the call moving the arrays. (It
    stays first in this file, so that the provenance lines it holds move only when it
    does.)"""
    W = codegen.shared(np.ones((3, 2)), name="W")
    b = codegen.shared(np.ones((3, 1)), name="b", broadcastable=(False, True))
    x, y = T.matrix("x"), T.matrix("y")
    h = T.nnet.sigmoid(T.dot(W, x) + b)
    cost = T.sum((h - y) ** 2)
    module = codegen.Module("layer")
    module.add_function("train", [x, y], cost,
                        updates=[(p, p - 0.1 * T.grad(cost, p)) for p in (W, b)])
    with cuda_emulated():
        got = module.sources(spec_path="tests/test_cuda.py")["layer_kernels.cu"]
    path = os.path.join(ROOT, "tests", "golden", "cuda_layer.cu")
    if os.environ.get("CODEGEN_UPDATE_GOLDEN"):
        with open(path, "w") as f:
            f.write(got)
    with open(path) as f:
        assert got == f.read()
    assert "every operand C-contiguous" in got and "train_k" in got


def test_mlp_on_emulated_cuda_trains_as_on_the_cpu(tmp_path, cuda_emulated):
    module, X, y = _mlp_module()
    cpu = load_module(module.build(str(tmp_path / "cpu")))
    module, _, _ = _mlp_module()
    module.name = "mlp_cuda_test_gpu"
    with cuda_emulated():
        gpu = load_module(module.build(str(tmp_path / "cuda")))
    assert gpu.__codegen__["backend"] == "cuda" and cpu.__codegen__["backend"] == "cython"
    cpu_costs = [float(cpu.train(X, y)) for _ in range(20)]
    gpu_costs = [float(gpu.train(X, y)) for _ in range(20)]
    np.testing.assert_allclose(gpu_costs, cpu_costs, rtol=1e-12)
    for name, value in cpu.state().items():
        np.testing.assert_allclose(gpu.get_value(name), value, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(gpu.predict(X), cpu.predict(X), rtol=1e-12)
    assert cpu_costs[-1] < cpu_costs[0]


def test_emitted_cu_reads_like_the_c_layer(tmp_path, cuda_emulated):
    x = T.matrix("x")
    module = codegen.Module("cu_text")
    module.add_function("f", [x], [T.exp(x) * 2, T.sum(x, axis=1)])
    with cuda_emulated():
        sources = module.sources(spec_path="tests/test_cuda.py")
    cu = sources["cu_text_kernels.cu"]
    assert "__global__ void f_k0_mul(" in cu and "CG_LAUNCH(f_k0_mul, cg_blocks(" in cu
    assert "e += (cg_index)gridDim.x * blockDim.x" in cu  # grid-stride
    assert "/* (TensorConstant{2} * exp(x))   [" in cu and "test_cuda.py:" in cu
    assert "cg_tanh_u" not in cu.split("/* ====")[1]  # the CPU's helpers stay out of kernels
    assert 'extern "C" int cg_call_f(' in cu


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
def test_nvcc_build_imports_without_a_gpu_and_says_why_at_the_first_call(tmp_path):
    """codegen build --backend cuda: a fat binary with the CUDA runtime inside; the module
    imports with numpy alone, and without a device its first call says why."""
    spec = tmp_path / "spec.py"
    spec.write_text(textwrap.dedent("""
        import numpy as np
        import codegen, codegen.tensor as T
        w = codegen.shared(np.ones(3), name="w")
        x = T.vector("x")
        m = codegen.Module("cu_small")
        m.add_function("f", [x], T.dot(w, T.exp(x)), updates=[(w, w * 2)])
    """))
    env = {k: v for k, v in os.environ.items() if k != "CODEGEN_CUDA_EMULATION"}
    out = subprocess.run([sys.executable, "-m", "codegen", "build", str(spec), "--backend",
                          "cuda", "--out", str(tmp_path)], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    folder = tmp_path / "cu_small"
    assert (folder / "cu_small_kernels.cu").exists()
    libs = subprocess.run(["ldd", str(next(folder.glob("cu_small*.so")))],
                          capture_output=True, text=True).stdout
    assert "libcudart" not in libs  # the CUDA runtime is linked in
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(folder)!r})
        import numpy as np, cu_small
        assert not [m for m in sys.modules if m.startswith("codegen")]
        try:
            print(repr(float(cu_small.f(np.zeros(3)))))
        except RuntimeError as exc:
            print(exc)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**env, "PYTHONPATH": ""}, timeout=120)
    assert run.returncode == 0, run.stderr
    if _has_gpu():
        assert run.stdout.strip() == "3.0"
    else:
        assert run.stdout.startswith("f: no CUDA device: "), run.stdout


@pytest.mark.gpu
@pytest.mark.skipif(not _has_gpu(), reason="no NVIDIA GPU here")
def test_mlp_on_a_gpu_trains_as_on_the_cpu(tmp_path):
    module, X, y = _mlp_module()
    cpu = load_module(module.build(str(tmp_path / "cpu")))
    module, _, _ = _mlp_module()
    module.name = "mlp_cuda_test_gpu"
    saved = codegen.config.device
    codegen.config.device = "cuda"
    try:
        gpu = load_module(module.build(str(tmp_path / "cuda")))
    finally:
        codegen.config.device = saved
    cpu_costs = [float(cpu.train(X, y)) for _ in range(20)]
    gpu_costs = [float(gpu.train(X, y)) for _ in range(20)]
    np.testing.assert_allclose(gpu_costs, cpu_costs, rtol=1e-9)


def test_the_state_stays_on_the_device_between_calls(tmp_path, cuda_emulated):
    """After the first call, a training step copies only its inputs to the device and its
    outputs back; get_value, state(), save, set_value and a function that returns the state
    see and change the values the device holds."""
    import ctypes
    w = codegen.shared(np.arange(4.0), name="w")
    x = T.vector("x")
    m = codegen.Module("cu_state")
    m.add_function("step", [x], T.sum(w * x), updates=[(w, w + x)])
    m.add_function("peek", [], w * 1.0)
    m.add_function("whole", [], w)
    with cuda_emulated():
        mod = load_module(m.build(str(tmp_path)))
    copied = ctypes.CDLL(mod.__file__).cg_cuda_copied_bytes
    copied.restype = ctypes.c_longlong
    ones = np.ones(4)
    assert float(mod.step(ones)) == 6.0  # w = 0 1 2 3, then 1 2 3 4 on the device
    to_device, back = copied(0), copied(1)
    assert float(mod.step(ones)) == 10.0  # w = 2 3 4 5
    assert copied(0) - to_device == 4 * 8  # x only: w stayed on the device
    assert copied(1) - back == 8  # the cost only: the new w stayed there too
    np.testing.assert_array_equal(mod.peek(), [2, 3, 4, 5])
    np.testing.assert_array_equal(mod.whole(), [2, 3, 4, 5])  # a function returning the state
    np.testing.assert_array_equal(mod.get_value("w"), [2, 3, 4, 5])
    mod.set_value("w", np.zeros(4))
    assert float(mod.step(ones)) == 0.0  # set_value reached the device
    assert mod.state()["w"].tolist() == [1, 1, 1, 1]
    mod.save(str(tmp_path / "s.npz"))
    mod.step(ones)
    mod.load(str(tmp_path / "s.npz"))
    assert float(mod.step(ones)) == 4.0 and mod.get_value("w").tolist() == [2, 2, 2, 2]


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
def test_nvcc_builds_the_op_table_and_the_mlp(tmp_path, monkeypatch):
    """The device code of the whole op table compiles with nvcc to sm_90 machine code (what
    the emulated tests run, the device compiler accepts: its front end, NVVM and ptxas; at
    -O0, since optimizing 560 kernels takes two minutes on two cores and checks nothing
    more of the source; the host side of the same text is what the emulated build compiles),
    and the tutorial MLP builds as users build it: the fat binary, sm_80 and sm_90."""
    import re

    from test_ops import _table_module

    from codegen.backends.cuda.toolchain import architectures
    from codegen.build import BuildError
    monkeypatch.delenv("CODEGEN_CUDA_EMULATION", raising=False)
    monkeypatch.setattr(codegen.config, "device", "cuda")
    for fname, text in _table_module().sources().items():
        (tmp_path / fname).write_text(text)
    cu = tmp_path / "ops_table_kernels.cu"
    out = subprocess.run(["nvcc", "-std=c++17", "-fmad=false", "-Xcicc", "-O0", "-Xptxas",
                          "-O0", "-arch=sm_90", "-cubin", str(cu), "-o",
                          str(tmp_path / "ops.cubin")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-4000:]
    kernels = set(re.findall(r"CG_LAUNCH\((\w+),", cu.read_text()))  # each one launched
    machine = (tmp_path / "ops.cubin").read_bytes()
    assert len(kernels) > 500 and not [k for k in kernels if k.encode() not in machine]
    mlp, _, _ = _mlp_module()
    mlp.name = "mlp_nvcc"
    trained = load_module(mlp.build(str(tmp_path / "mlp")))
    assert trained.__codegen__["backend"] == "cuda"
    if shutil.which("cuobjdump"):  # the fat binary holds sm_80 and sm_90 machine code
        listing = subprocess.run(["cuobjdump", "--list-elf", trained.__file__],
                                 capture_output=True, text=True).stdout
        assert "sm_80" in listing and "sm_90" in listing, listing
    monkeypatch.setenv("CODEGEN_CUDA_ARCH", "sm_90")
    assert architectures() == ["-gencode", "arch=compute_90,code=[sm_90,compute_90]"]
    monkeypatch.setenv("CODEGEN_CUDA_ARCH", "hopper")
    with pytest.raises(BuildError, match="CODEGEN_CUDA_ARCH: expected"):
        architectures()


def test_large_products_go_through_cublas_arithmetic(tmp_path, cuda_emulated):
    """Products above kernels.CUBLAS_MIN call cuBLAS's gemm (row-major as column-major, the
    transposes from the strides, beta = 1 for the momentum fold); emulated, that gemm runs
    on the host with cuBLAS's conventions. Values as numpy's, float64 and float32."""
    rng = np.random.default_rng(3)
    for dtype in ("float64", "float32"):
        a, b = T.tensor(dtype, (False, False), "a"), T.tensor(dtype, (False, False), "b")
        w = codegen.shared(rng.standard_normal((60, 40)).astype(dtype), name="w")
        m = codegen.Module(f"cu_big_{dtype}")
        m.add_function("prod", [a, b], [T.dot(a, b), T.dot(a.T, a), T.dot(b.T, a.T)])
        m.add_function("fold", [a, b], [], updates=[(w, 0.5 * w + 0.25 * T.dot(a, b))])
        with cuda_emulated():
            mod = load_module(m.build(str(tmp_path / dtype)))
        A = rng.standard_normal((60, 70)).astype(dtype)
        B = rng.standard_normal((70, 40)).astype(dtype)
        tol = 1e-12 if dtype == "float64" else 1e-4
        for got, want in zip(mod.prod(A, B), [A @ B, A.T @ A, B.T @ A.T]):
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 10)
        before = mod.get_value("w")
        mod.fold(A, B)
        np.testing.assert_allclose(mod.get_value("w"), 0.5 * before + 0.25 * (A @ B),
                                   rtol=tol, atol=tol * 10)


class _DeviceArray:
    """An array that says it is in device memory (``__cuda_array_interface__``), as CuPy's
    and PyTorch's do; under the emulation device memory is host memory, so it can be a
    numpy array's."""

    def __init__(self, array):
        self.array = array

    @property
    def __cuda_array_interface__(self):
        a = self.array
        return {"shape": a.shape, "typestr": a.dtype.str, "data": (a.ctypes.data, False),
                "strides": None if a.flags.c_contiguous else a.strides, "version": 3}


_EMULATED_ONLY = pytest.mark.skipif(
    os.environ.get("CODEGEN_TEST_CUDA") == "device",
    reason="host memory posing as device memory: under the emulation only")


@_EMULATED_ONLY
def test_device_arrays_are_read_where_they_are(tmp_path, cuda_emulated):
    """An argument with __cuda_array_interface__ goes to the kernels without a copy; its dtype
    must be the argument's. One the function returns (or a view of it) goes through the
    host, as a numpy argument does."""
    import ctypes
    x, y = T.dmatrix("x"), T.dvector("y")
    m = codegen.Module("cu_cai")
    m.add_function("f", [x, y], [T.exp(x) * y, T.sum(x)])
    m.add_function("same", [y], y)
    m.add_function("both", [y], [y[::-1], y * 2])
    m.add_function("rev", [y], y[::-1])
    with cuda_emulated():
        mod = load_module(m.build(str(tmp_path)))
    copied = ctypes.CDLL(mod.__file__).cg_cuda_copied_bytes
    copied.restype = ctypes.c_longlong
    X = np.arange(12.0).reshape(3, 4) / 10
    Y = np.array([1.0, -2.0, 3.0, 0.5])
    want = mod.f(X, Y)
    before = copied(0)
    got = mod.f(_DeviceArray(X), _DeviceArray(Y))
    assert copied(0) == before  # nothing copied in
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    strided = np.arange(24.0).reshape(3, 8)[:, ::2] / 10  # strides from the interface
    np.testing.assert_array_equal(mod.f(_DeviceArray(strided), Y)[0], mod.f(strided, Y)[0])
    with pytest.raises(TypeError, match="argument 'y': expected float64 on the device, got "
                                        "float32"):
        mod.f(X, _DeviceArray(Y.astype(np.float32)))
    for outputs in ("numpy", "device"):
        np.testing.assert_array_equal(np.asarray(mod.same(_DeviceArray(Y), outputs=outputs)), Y)
        got = [np.asarray(a) for a in mod.both(_DeviceArray(Y), outputs=outputs)]
        np.testing.assert_array_equal(got[0], Y[::-1])
        np.testing.assert_array_equal(got[1], Y * 2)
    before = copied(1)
    np.testing.assert_array_equal(mod.rev(_DeviceArray(Y)), Y[::-1])
    assert copied(1) == before + Y.nbytes  # copied to the host, where the glue reads it


class _DLPackDeviceArray:
    """A DLPack producer that says its tensor is on a CUDA device (kDLCUDA), as PyTorch's,
    CuPy's and JAX's device arrays do; under the emulation its memory is a numpy array's."""

    def __init__(self, array):
        self.array = array
        self.streams = []

    def __dlpack_device__(self):
        return (2, 0)

    def __dlpack__(self, stream=None):
        import ctypes
        a = self.array
        self.streams.append(stream)

        class DLManagedTensor(ctypes.Structure):
            _fields_ = [("data", ctypes.c_void_p), ("device_type", ctypes.c_int32),
                        ("device_id", ctypes.c_int32), ("ndim", ctypes.c_int32),
                        ("code", ctypes.c_uint8), ("bits", ctypes.c_uint8),
                        ("lanes", ctypes.c_uint16), ("shape", ctypes.POINTER(ctypes.c_int64)),
                        ("strides", ctypes.POINTER(ctypes.c_int64)),
                        ("byte_offset", ctypes.c_uint64), ("manager_ctx", ctypes.c_void_p),
                        ("deleter", ctypes.c_void_p)]
        self.shape = (ctypes.c_int64 * a.ndim)(*a.shape)
        self.strides = (ctypes.c_int64 * a.ndim)(*(s // a.itemsize for s in a.strides))
        code = {"i": 0, "u": 1, "f": 2}[a.dtype.kind]
        self.tensor = DLManagedTensor(a.ctypes.data, 2, 0, a.ndim, code, a.itemsize * 8, 1,
                                      self.shape, self.strides, 0, None, None)
        new = ctypes.pythonapi.PyCapsule_New
        new.restype, new.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p,
                                                       ctypes.c_void_p]
        return new(ctypes.addressof(self.tensor), b"dltensor", None)


@_EMULATED_ONLY
def test_dlpack_device_arrays_are_read_where_they_are(tmp_path, cuda_emulated):
    """An argument with __dlpack__ on a CUDA device goes to the kernels without a copy,
    asked for on the legacy default stream, the one the kernels run on."""
    import ctypes
    x, y = T.dmatrix("x"), T.dvector("y")
    m = codegen.Module("cu_dlpack")
    m.add_function("f", [x, y], [T.exp(x) * y, T.sum(x)])
    with cuda_emulated():
        mod = load_module(m.build(str(tmp_path)))
    copied = ctypes.CDLL(mod.__file__).cg_cuda_copied_bytes
    copied.restype = ctypes.c_longlong
    X = np.arange(24.0).reshape(3, 8)[:, ::2] / 10  # strided
    Y = np.array([1.0, -2.0, 3.0, 0.5])
    want = mod.f(X, Y)
    before = copied(0)
    dx, dy = _DLPackDeviceArray(X), _DLPackDeviceArray(Y)
    got = mod.f(dx, dy)
    assert copied(0) == before and dx.streams == [1] and dy.streams == [1]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    with pytest.raises(TypeError, match="expected float64 on the device, got int64"):
        mod.f(X, _DLPackDeviceArray(np.arange(4)))


class _OnlyDLPack:
    """A device tensor seen through DLPack alone (its __cuda_array_interface__ hidden)."""

    def __init__(self, tensor):
        self.tensor = tensor

    def __dlpack__(self, stream=None):
        return self.tensor.__dlpack__(stream=stream)

    def __dlpack_device__(self):
        return self.tensor.__dlpack_device__()


def _device_outputs_module(tmp_path, cuda_emulated):
    w = codegen.shared(np.arange(6.0).reshape(2, 3), name="w")
    x = T.dmatrix("x")
    y = T.tanh(T.dot(x, w))
    m = codegen.Module("cu_outputs")
    # a buffer, a view of it, the old state, the new state, a scalar, a constant
    m.add_function("step", [x], [y, y.T, w, w + 1, T.sum(x), T.constant(2.5)],
                   updates=[(w, w + 1)])
    m.add_function("double", [x], 2 * x)
    with cuda_emulated():
        return load_module(m.build(str(tmp_path)))


def _copied(mod):
    import ctypes
    copied = ctypes.CDLL(mod.__file__).cg_cuda_copied_bytes
    copied.restype = ctypes.c_longlong
    return copied


def _dlpack_tensor(capsule):
    """The DLTensor a "dltensor" capsule holds: (data, device, shape, strides, type)."""
    from codegen.backends.cuda.runtime import _dltensor
    t = _dltensor(capsule)
    return (t.data + t.byte_offset, (t.device_type, t.device_id),
            tuple(t.shape[k] for k in range(t.ndim)), tuple(t.strides[k] for k in range(t.ndim)),
            (t.code, t.bits, t.lanes))


@_EMULATED_ONLY
def test_outputs_stay_on_the_device(tmp_path, cuda_emulated):
    """outputs='device': every output comes back as the module's DeviceArray, with the values
    and layout of the numpy outputs, nothing copied to the host; it goes back into a
    function where it is; its memory is given back when the last array over it goes."""
    import ctypes
    mod = _device_outputs_module(tmp_path, cuda_emulated)
    copied = _copied(mod)
    X = np.arange(8.0).reshape(4, 2) / 10
    want = mod.step(X)
    mod.set_value("w", np.arange(6.0).reshape(2, 3))
    back = copied(1)
    got = mod.step(X, outputs="device")
    assert copied(1) == back  # nothing came to the host
    assert all(type(g).__name__ == "DeviceArray" for g in got)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_array_equal(g.get(), w)
        np.testing.assert_array_equal(np.asarray(g), w)
    np.testing.assert_array_equal(mod.get_value("w"), np.arange(6.0).reshape(2, 3) + 1)
    y, yt = got[0], got[1]
    face = yt.__cuda_array_interface__  # a view: same memory, transposed strides
    assert face["strides"] == (8, 24) and face["data"][0] == y.address
    assert y.__cuda_array_interface__["strides"] is None  # C-contiguous
    # under the emulation device memory is the host's: read it through the interface
    raw = (ctypes.c_double * 12).from_address(face["data"][0])
    np.testing.assert_array_equal(np.frombuffer(raw).reshape(4, 3), want[0])
    # back into a function where it is: nothing copied in
    before = copied(0)
    doubled = mod.double(got[0], outputs="device")
    assert copied(0) == before
    np.testing.assert_array_equal(doubled.get(), 2 * want[0])
    np.testing.assert_array_equal(mod.double(yt), 2 * want[1])  # strided, to numpy
    # DLPack: the same memory, kept alive by the capsule
    capsule = yt.__dlpack__()
    assert yt.__dlpack_device__() == (2, 0)
    assert _dlpack_tensor(capsule) == (y.address, (2, 0), (3, 4), (1, 3), (2, 64, 1))
    in_use = mod._device_memory_in_use()
    assert in_use == 6  # y and y.T share one block
    del got, g, y, yt, face
    assert mod._device_memory_in_use() == 2  # the capsule's array, and `doubled`
    del capsule
    del doubled
    assert mod._device_memory_in_use() == 0
    with pytest.raises(ValueError, match="outputs must be 'numpy' or 'device', got 'gpu'"):
        mod.step(X, outputs="gpu")
    with pytest.raises(ValueError, match="shape"):  # a failed call: no state change
        mod.step(np.ones((4, 5)), outputs="device")
    np.testing.assert_array_equal(mod.get_value("w"), np.arange(6.0).reshape(2, 3) + 1)
    assert mod._device_memory_in_use() == 0
    out = mod.double(X, outputs="device")
    with pytest.raises(TypeError, match="does not pickle"):
        import pickle
        pickle.dumps(out)
    with pytest.raises(BufferError, match="copy=True"):
        out.__dlpack__(copy=True)


@_EMULATED_ONLY
def test_function_outputs_on_the_device(cuda_emulated):
    """codegen.function's functions take outputs='device' on CUDA, and say what it needs
    elsewhere."""
    x = T.dvector("x")
    w = codegen.shared(np.ones(3), name="w")
    with cuda_emulated():
        f = codegen.function([x], [x * w, T.sum(x)], updates=[(w, w * 2)])
    out = f(np.arange(3.0), outputs="device")
    assert [type(o).__name__ for o in out] == ["DeviceArray", "DeviceArray"]
    np.testing.assert_array_equal(out[0].get(), [0, 1, 2])
    assert float(out[1].get()) == 3.0
    np.testing.assert_array_equal(w.get_value(), [2, 2, 2])
    np.testing.assert_array_equal(f(np.arange(3.0))[0], [0, 2, 4])  # numpy by default
    cpu = codegen.function([x], x * 2)
    with pytest.raises(ValueError, match="outputs='device' needs a function compiled for CUDA"):
        cpu(np.arange(3.0), outputs="device")


@pytest.mark.gpu
@pytest.mark.skipif(not _has_gpu(), reason="no NVIDIA GPU here")
def test_torch_tensors_on_the_gpu_go_in_without_a_copy(tmp_path):
    """PyTorch CUDA tensors through __cuda_array_interface__ and through DLPack alone, made
    on a side stream: read where they are, after that stream's work."""
    import ctypes
    torch = pytest.importorskip("torch")
    x, y = T.dmatrix("x"), T.dvector("y")
    m = codegen.Module("cu_torch")
    m.add_function("f", [x, y], [T.exp(x) * y, T.sum(x)])
    saved = codegen.config.device
    codegen.config.device = "cuda"
    try:
        mod = load_module(m.build(str(tmp_path)))
    finally:
        codegen.config.device = saved
    copied = ctypes.CDLL(mod.__file__).cg_cuda_copied_bytes
    copied.restype = ctypes.c_longlong
    X = np.arange(12.0).reshape(3, 4) / 10
    Y = np.array([1.0, -2.0, 3.0, 0.5])
    want = mod.f(X, Y)
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        tx = torch.tensor(X, device="cuda") * 1.0
        ty = torch.tensor(Y, device="cuda") * 1.0
    before = copied(0)
    for args in ((tx, ty), (_OnlyDLPack(tx), _OnlyDLPack(ty))):
        got = mod.f(*args)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    assert copied(0) == before


def test_maps_have_a_contiguous_variant_chosen_at_run_time(tmp_path, cuda_emulated):
    """A map over a matrix indexes by the flat index when every operand is C-contiguous,
    and by strides otherwise: both agree with numpy; a map with a broadcast operand has the
    strided form only."""
    x, y, v = T.dmatrix("x"), T.dmatrix("y"), T.dvector("v")
    m = codegen.Module("cu_variants")
    m.add_function("f", [x, y], T.exp(x) * y + 1)
    m.add_function("g", [x, v], x * v)
    with cuda_emulated():
        path = m.build(str(tmp_path))
        mod = load_module(path)
    with open(tmp_path / "cu_variants_kernels.cu") as f:
        cu = f.read()
    assert cu.count("every operand C-contiguous: the flat index is the offset") == 1
    assert "add[e] = " in cu and "x_s0 == n1" in cu
    rng = np.random.default_rng(0)
    a, b = rng.random((6, 8)), rng.random((6, 8))
    for xa, ya in ((a, b), (a[::2, ::2], b[1::2, 1::2]), (a.T, b.T), (a[:1], b[:1])):
        np.testing.assert_allclose(mod.f(xa, ya), np.exp(xa) * ya + 1, rtol=1e-15)
    np.testing.assert_array_equal(mod.g(a, b[0]), a * b[0])


def test_reductions_along_different_axes_run_in_parallel_launches(tmp_path, cuda_emulated):
    """One fused loop with a total, row sums, column sums and a plain store (updating its
    own input in place): a launch per set of axes, none on one thread, the values numpy's;
    the launch doing the plain store runs last, so the others read the old values."""
    w = codegen.shared(np.arange(12.0).reshape(3, 4) / 7, name="w")
    x = T.dmatrix("x")
    e = T.exp(w) * x
    m = codegen.Module("cu_groups")
    m.add_function("f", [x], [T.sum(e * e), T.sum(e, axis=1), T.sum(e, axis=0)],
                   updates=[(w, w - 0.5 * e)])
    with cuda_emulated():
        mod = load_module(m.build(str(tmp_path)))
    with open(tmp_path / "cu_groups_kernels.cu") as f:
        cu = f.read()
    assert "one thread: in order" not in cu
    assert cu.count("__global__ void f_k0_") >= 4  # 3 sets (one a total: two kernels)
    X = np.linspace(-1, 1, 12).reshape(3, 4)
    W = np.arange(12.0).reshape(3, 4) / 7
    E = np.exp(W) * X
    got = mod.f(X)
    np.testing.assert_allclose(got[0], np.sum(E * E), rtol=1e-13)
    np.testing.assert_allclose(got[1], E.sum(axis=1), rtol=1e-13)
    np.testing.assert_allclose(got[2], E.sum(axis=0), rtol=1e-13)
    np.testing.assert_allclose(mod.get_value("w"), W - 0.5 * E, rtol=1e-13)


def test_cublas_is_looked_for_in_the_wheel_and_by_cuda_pathfinder(tmp_path, cuda_emulated,
                                                                   monkeypatch):
    """The glue's list of places for cuBLAS (asked for when a product first needs it):
    the nvidia-cublas wheel's libraries, then what cuda-pathfinder finds."""
    import types
    m = codegen.Module("cu_finder")
    x = T.dmatrix("x")
    m.add_function("f", [x], T.dot(x, x))
    with cuda_emulated():
        mod = load_module(m.build(str(tmp_path)))
    found = types.SimpleNamespace(abs_path="/opt/found/libcublas.so.13")
    pathfinder = types.ModuleType("cuda.pathfinder")
    pathfinder.load_nvidia_dynamic_lib = lambda name: found if name == "cublas" else None
    monkeypatch.setitem(sys.modules, "cuda", types.ModuleType("cuda"))
    monkeypatch.setitem(sys.modules, "cuda.pathfinder", pathfinder)
    assert mod._cublas_files()[-1] == "/opt/found/libcublas.so.13"

    def missing(name):
        raise RuntimeError("not found")
    pathfinder.load_nvidia_dynamic_lib = missing
    assert "/opt/found/libcublas.so.13" not in mod._cublas_files()


@pytest.mark.gpu
@pytest.mark.skipif(not _has_gpu(), reason="no NVIDIA GPU here")
def test_device_outputs_go_to_torch_and_cupy_without_a_copy(tmp_path, cuda_emulated):
    """DeviceArrays read by PyTorch (DLPack and the interface) and CuPy where they are: the
    same addresses, the values of the numpy outputs."""
    torch = pytest.importorskip("torch")
    mod = _device_outputs_module(tmp_path, cuda_emulated)
    X = np.arange(8.0).reshape(4, 2) / 10
    want = mod.step(X)
    mod.set_value("w", np.arange(6.0).reshape(2, 3))
    got = mod.step(X, outputs="device")
    for g, w in zip(got[:2], want[:2]):
        t = torch.from_dlpack(g)
        assert t.device.type == "cuda" and t.data_ptr() == g.address
        np.testing.assert_array_equal(t.cpu().numpy(), w)
        t2 = torch.as_tensor(g, device="cuda")  # through __cuda_array_interface__
        assert t2.data_ptr() == g.address
    try:
        import cupy
    except ImportError:
        return
    c = cupy.asarray(got[1])
    assert c.data.ptr == got[1].address
    np.testing.assert_array_equal(cupy.asnumpy(c), want[1])


def test_nan_guard_checks_each_kernel_on_the_device(tmp_path, cuda_emulated):
    """NanGuardMode on CUDA: the step that first writes a NaN stops the call with the op
    and line that built it and what it found, counted; the state is left as it was; the
    same function runs clean on good data."""
    from codegen.compile.mode import NanGuardMode
    x = T.vector("x")
    w = codegen.shared(np.ones(3), name="w")
    y = T.log(x) * w
    with cuda_emulated():
        f = codegen.function([x], T.sum(y), updates=[(w, w + 1)],
                             mode=NanGuardMode(nan_is_error=True, inf_is_error=True))
    assert "cuda" in repr(f.executable.module.__codegen__["backend"])
    np.testing.assert_allclose(f(np.array([1.0, 2.0, 3.0])), np.log(6.0))
    with pytest.raises(FloatingPointError, match=r"produced 1 NaN, 0 Inf and 0 values above "
                                                 r"1e10 in .*log\(x\)[\s\S]*test_cuda.py"):
        f(np.array([0.0, -1.0, 3.0]))
    np.testing.assert_array_equal(w.get_value(), [2.0, 2.0, 2.0])


def test_reductions_over_many_elements_take_a_warp_per_target(tmp_path, cuda_emulated):
    """Few targets over many elements each (a bias gradient's rows) take a warp per target
    element, its lanes combined by shuffles in a fixed order: sums and maxima agree with
    numpy along the contiguous axis and across two reduced axes, for target counts that
    leave the last block's warps partly idle, beside a reduction over few elements (a
    thread per target); integers exactly; the same bits every call."""
    x, k = T.tensor3("x"), T.imatrix("k")
    e = T.exp(x)
    outs = [T.sum(e, axis=2), T.max(x, axis=2), T.sum(e, axis=(0, 2)), T.sum(x, axis=1),
            T.sum(k, axis=1)]
    m = codegen.Module("cu_warp_reductions")
    m.add_function("f", [x, k], outs)
    with cuda_emulated():
        assert "cg_warp_per_element(" in m.sources()["cu_warp_reductions_kernels.cu"]
        mod = load_module(m.build(str(tmp_path)))
    rng = np.random.default_rng(3)
    xv = rng.standard_normal((3, 5, 100))
    kv = rng.integers(-1000, 1000, (13, 70)).astype(np.int32)
    got = mod.f(xv, kv)
    ev = np.exp(xv)
    want = [ev.sum(axis=2), xv.max(axis=2), ev.sum(axis=(0, 2)), xv.sum(axis=1), kv.sum(axis=1)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-13)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[4], want[4])
    for g, again in zip(got, mod.f(xv, kv)):
        np.testing.assert_array_equal(g, again)


def _graph_counts(mod):
    """The module's steps run as launches, captured into CUDA graphs, replayed, and the
    captures that failed."""
    import ctypes
    count = ctypes.CDLL(mod.__file__).cg_cuda_graph_count
    count.restype = ctypes.c_longlong
    return [count(k) for k in range(4)]


def test_training_steps_are_replayed_as_cuda_graphs(tmp_path, cuda_emulated):
    """A training step is captured into a CUDA graph the second time it meets the same
    arguments and replayed from then on (a module updates its state in place on the device:
    one graph; codegen.function's new state alternates between two device arrays: two); the
    replays compute the same bits as the launches do with graphs off."""
    import ctypes
    module, X, y = _mlp_module()
    module.name = "mlp_cuda_graphs"
    with cuda_emulated():
        mod = load_module(module.build(str(tmp_path)))
    start = mod.state()
    replayed = [float(mod.train(X, y)) for _ in range(8)]
    assert _graph_counts(mod) == [1, 1, 6, 0]  # launches, captures, replays, failures
    after = mod.state()
    assert ctypes.CDLL(mod.__file__).cg_cuda_graphs(0) == 1
    for name, value in start.items():
        mod.set_value(name, value)
    launched = [float(mod.train(X, y)) for _ in range(8)]
    assert _graph_counts(mod) == [9, 1, 6, 0]
    assert replayed == launched and replayed[-1] < replayed[0]
    for name, value in after.items():
        np.testing.assert_array_equal(mod.get_value(name), value)
    W = codegen.shared(np.ones((3, 2)), name="W")
    x = T.matrix("x")
    cost = T.sum(T.tanh(T.dot(x, W)))
    with cuda_emulated():
        f = codegen.function([x], cost, updates=[(W, W - 0.1 * T.grad(cost, W))])
    costs = [float(f(np.ones((4, 3)))) for _ in range(8)]
    assert _graph_counts(f.executable.module) == [2, 2, 4, 0]
    assert costs == sorted(costs, reverse=True) and costs[0] > costs[-1]
    for rows in (5, 4, 5, 5):  # other arguments are not given an old graph
        X2 = np.arange(rows * 3.0).reshape(rows, 3) / 10
        expected = np.sum(np.tanh(X2 @ W.get_value()))
        assert float(f(X2)) == pytest.approx(expected, rel=1e-12)


def test_profile_waits_for_each_step_and_is_not_replayed(cuda_emulated):
    """profile=True on CUDA: the step function waits for each step's launches and times it;
    such a step is never captured into a CUDA graph; the values are the unprofiled ones."""
    x = T.matrix("x")
    runs = []
    for profile in (True, False):
        W = codegen.shared(np.linspace(-1, 1, 6).reshape(2, 3), name="W")
        cost = T.sum(T.tanh(T.dot(x, W)))
        with cuda_emulated():
            f = codegen.function([x], cost, updates=[(W, W - 0.1 * T.grad(cost, W))],
                                 profile=profile)
        runs.append(([float(f(np.ones((4, 2)))) for _ in range(4)], W.get_value(), f))
    (profiled, W1, f), (plain, W2, g) = runs
    assert profiled == plain
    np.testing.assert_array_equal(W1, W2)
    f.profile.atexit_print = False
    assert _graph_counts(f.executable.module) == [4, 0, 0, 0]
    assert _graph_counts(g.executable.module)[1] == 2  # captured on the second calls
    steps = f.profile._records[0].steps()
    assert {kind for kind, *_ in steps} >= {"product", "reduction"}
    assert {runs for *_, runs in steps} == {4}
    assert "Backend: cython on cuda" in f.profile.summary_text()
    assert "not replayed as a CUDA graph: profile=True" in f.executable.source


def _gather_module(name):
    W = codegen.shared(np.arange(12.0).reshape(4, 3), name="W")
    i = T.ivector("i")
    m = codegen.Module(name)
    m.add_function("pick", [i], T.sum(W[i]), updates=[(W, W * 2)])
    return m


def test_a_function_from_the_graph_cache_shows_its_own_backends_source(cuda_emulated):
    """The source of a function the graph cache gave is generated when asked for, by the
    backend it was built for, whatever the device is by then."""
    x = T.vector("x")
    with cuda_emulated():
        for _ in range(2):  # the same graph from the same line: found in the graph cache
            again = codegen.function([x], T.exp(x) * 3)
    assert codegen.config.device == "cpu"
    assert "__global__ void" in again.executable.source


def test_steps_that_read_the_device_back_are_not_replayed(tmp_path, cuda_emulated):
    """A step whose index checks are read back between its launches runs as launches every
    time (the .cu says why), and still stops at a bad index with the state untouched."""
    with cuda_emulated():
        m = _gather_module("cu_gather_launched")
        source = m.sources()["cu_gather_launched_kernels.cu"]
        mod = load_module(m.build(str(tmp_path)))
    assert "not replayed as a CUDA graph: its index checks are read back" in source
    for k in range(4):
        assert float(mod.pick(np.array([0, 3], dtype=np.int32))) == 2 ** k * 33  # rows 0, 3
    with pytest.raises(IndexError, match="out of bounds"):
        mod.pick(np.array([0, 4], dtype=np.int32))
    np.testing.assert_array_equal(mod.get_value("W"), 16 * np.arange(12.0).reshape(4, 3))
    assert _graph_counts(mod) == [5, 0, 0, 0]


def test_a_capture_that_fails_leaves_the_step_to_launches(tmp_path, cuda_emulated,
                                                          monkeypatch):
    """Were a step that reads the device back taken for one that can be replayed, its
    capture fails (a copy to the host is not allowed while a stream captures, on a device
    as in the emulation), and the step runs as launches from then on, with the same
    results and the same errors."""
    from codegen.backends.cuda import layer
    monkeypatch.setattr(layer, "_not_replayable", lambda step: None)
    with cuda_emulated():
        m = _gather_module("cu_gather_forced")
        assert "cg_graphed(&cg_graphs_pick" in m.sources()["cu_gather_forced_kernels.cu"]
        mod = load_module(m.build(str(tmp_path)))
    for k in range(3):
        assert float(mod.pick(np.array([0, 3], dtype=np.int32))) == 2 ** k * 33
    assert _graph_counts(mod) == [3, 0, 0, 1]
    with pytest.raises(IndexError, match="out of bounds"):
        mod.pick(np.array([0, 4], dtype=np.int32))
    np.testing.assert_array_equal(mod.get_value("W"), 8 * np.arange(12.0).reshape(4, 3))


def test_a_returned_reshape_read_by_a_later_step_is_its_buffers_device_memory(cuda_emulated):
    """A reshape of a computed buffer that is returned is a view the glue makes; a kernel
    that reads it afterwards reads the buffer's device memory (it read a stale host copy)."""
    k, d, v, n = T.lvector("k"), T.dvector("d"), T.dvector("v"), T.lscalar("n")
    dense = T.reshape(T.inc_subtensor(T.zeros((n * 5,))[k], d), (n, 5))
    with cuda_emulated():
        f = codegen.function([k, d, v, n], [dense, dense + T.outer(v, T.ones(5))])
    assert "a view of advanced_inc_subtensor, at the same offset" in f.executable.source
    want = np.zeros(15)
    want[[0, 7, 12]] = [1.0, 2.0, 3.0]
    want = want.reshape(3, 5)
    for _ in range(2):
        got = f(np.array([0, 7, 12]), np.array([1.0, 2.0, 3.0]), np.arange(3.0), 3)
        np.testing.assert_array_equal(got[0], want)
        np.testing.assert_array_equal(got[1], want + np.arange(3.0)[:, None])


def test_argsort_of_long_vectors_on_cuda(cuda_emulated, monkeypatch):
    """A vector's argsort from RADIX_MIN elements on is a radix sort by the whole grid (a
    byte a pass, in tiles; in the step's device memory): float64 with NaNs and both zeros,
    float32, int32 over its whole range and int8, and a sort, in one tile and in three;
    the tiles' counts scanned by a thread per byte value, or past FEW_TILES tiles by a block
    per value (int16): numpy's stable order."""
    from codegen.backends.ckernel import RADIX_MIN
    from codegen.backends.cuda import radix
    d, f, i, b, h = (T.dvector("d"), T.fvector("f"), T.ivector("i"), T.bvector("b"),
                     T.wvector("h"))
    with cuda_emulated():
        fn = codegen.function([d, f, i, b], [T.argsort(d), T.argsort(f), T.argsort(i),
                                             T.argsort(b), T.sort(d[1:])])
        assert "_moves" in fn.executable.source
        monkeypatch.setattr(radix, "FEW_TILES", 2)
        per_value = codegen.function([h], T.argsort(h))
    rng = np.random.RandomState(8)
    for n in (RADIX_MIN + 1, 2 * radix.TILE + 5):
        dv = rng.choice([0.0, -0.0, np.nan, -np.inf, 2.0, -2.0], n)
        dv[::4] = rng.randn(len(dv[::4]))
        fv = rng.randn(n).astype("float32")
        iv = rng.randint(-50, 50, n).astype("int32")
        iv[::7] = rng.randint(-2 ** 31, 2 ** 31 - 1, len(iv[::7]))
        bv = rng.randint(-128, 128, n).astype("int8")
        got = fn(dv, fv, iv, bv)
        for g, v in zip(got, (dv, fv, iv, bv)):
            np.testing.assert_array_equal(g, np.argsort(v, kind="stable"))
        np.testing.assert_array_equal(got[4], np.sort(dv[1:]))
    hv = rng.randint(-2 ** 15, 2 ** 15, 2 * radix.TILE + 5).astype("int16")
    np.testing.assert_array_equal(per_value(hv), np.argsort(hv, kind="stable"))


def _tiled_cumsum_model(x):
    """The sums a vector's tiled cumsum on CUDA forms (``backends.cuda.walks``), in its
    order, with numpy's float64 additions (IEEE's, as the device's): the tiles' totals
    (strided per thread, then a tree), their scan, and each tile's rounds (a thread's
    elements in order, the threads' totals scanned by doubling)."""
    from codegen.backends.cuda import walks
    from codegen.backends.cuda.kernels import THREADS as t

    def doubling_scan(values):  # inclusive, as the kernel's shared-memory scan
        v = values.copy()
        off = 1
        while off < t:
            v = np.concatenate([v[:off], v[:-off] + v[off:]])
            off *= 2
        return v

    m, items = len(x), walks.ITEMS
    round_len = t * items
    tiles = min(-(-m // (walks.TILE_ROUNDS * round_len)), walks.PARTIAL_TILES)
    tile_len = -(-(-(-m // tiles)) // round_len) * round_len
    tiles = -(-m // tile_len)
    starts = [j * tile_len for j in range(tiles)]
    totals = []
    for s in starts:
        mine = np.zeros(t)
        for k in range(s, min(m, s + tile_len)):
            mine[(k - s) % t] = mine[(k - s) % t] + x[k]
        half = t // 2
        while half:
            mine[:half] = mine[:half] + mine[half:2 * half]
            half //= 2
        totals.append(mine[0])
    offsets, carry = [], 0.0
    for j in range(0, tiles, t):
        chunk = np.zeros(t)
        chunk[:len(totals[j:j + t])] = totals[j:j + t]
        inclusive = doubling_scan(chunk)
        offsets += list(carry + np.concatenate([[0.0], inclusive[:-1]]))[:len(totals[j:j + t])]
        carry = carry + inclusive[-1]
    out = np.empty(m)
    for j, s in enumerate(starts):
        carry, have = offsets[j], j > 0
        for r in range(s, min(m, s + tile_len), round_len):
            mine, running = np.zeros(t), {}
            for th in range(t):
                acc = None
                for k in range(r + th * items, min(r + (th + 1) * items, s + tile_len, m)):
                    acc = x[k] if acc is None else acc + x[k]
                    running[k] = acc
                mine[th] = 0.0 if acc is None else acc
            inclusive = doubling_scan(mine)
            for k, value in running.items():
                th = (k - r) // items
                if th > 0:
                    ahead = carry + inclusive[th - 1] if have else inclusive[th - 1]
                    out[k] = ahead + value
                else:
                    out[k] = carry + value if have else value
            carry = carry + inclusive[-1] if have else inclusive[-1]
            have = True
    return out


def test_long_rows_are_walked_by_tiles_on_cuda(cuda_emulated):
    """cumsum, cumprod, argmax and nonzero of long rows share each row among a block's
    threads, in tiles (three launches where a row has several): a vector's cumsum has the
    bits of the model of that grouping (the same every call), close to numpy's sequential
    sums; argmax picks the first NaN, else the first maximum, across tiles and threads;
    positions and integer sums are exact; a first -0.0 stays -0.0. Many rows along a strided
    axis keep a thread per row: numpy's bits exactly."""
    from codegen.backends.cuda import walks
    x, w, m, v = T.dvector("x"), T.dvector("w"), T.dmatrix("m"), T.ivector("v")
    outs = [T.cumsum(x), T.cumprod(w), T.argmax(x), T.argmax(m, axis=1), T.cumsum(m, axis=0),
            T.nonzero(v)[0], T.cumsum(v)]
    with cuda_emulated():
        f = codegen.function([x, w, m, v], outs)
        wide = codegen.function([m], T.cumsum(m, axis=0))
    assert "_tile_offsets" in f.executable.source and "_tiled(" in f.executable.source
    rng = np.random.default_rng(11)
    n = 2 * walks.TILE_ROUNDS * 256 * walks.ITEMS + 1001  # three tiles, the last one short
    xv = rng.standard_normal(n)
    wv = 1 + 1e-4 * rng.standard_normal(n)
    mv = rng.standard_normal((3, n))
    mv[0, [9000, 17000]] = mv[0, 70] = 99.0  # ties in other tiles and threads: the first
    mv[1, [20, 17001]] = np.nan
    mv[2, 5] = np.inf
    vv = rng.integers(-1, 2, n).astype(np.int32)
    got = f(xv, wv, mv, vv)
    np.testing.assert_array_equal(got[0], _tiled_cumsum_model(xv))
    np.testing.assert_allclose(got[0], np.cumsum(xv), rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(got[1], np.cumprod(wv), rtol=1e-12)
    assert got[2] == np.argmax(xv)
    np.testing.assert_array_equal(got[3], [70, 20, 5])
    np.testing.assert_allclose(got[4], np.cumsum(mv, axis=0))
    np.testing.assert_array_equal(got[5], np.nonzero(vv)[0])
    np.testing.assert_array_equal(got[6], np.cumsum(vv))
    for g, again in zip(got, f(xv, wv, mv, vv)):
        np.testing.assert_array_equal(g, again)
    zeros = np.full(walks.TILED_MIN + 3, -0.0)
    first = f(zeros, zeros + 1, mv[:, :300], vv[:300])[0]
    assert np.signbit(first).all()
    many = rng.standard_normal((40, walks.MANY_ROWS + 5))  # a thread per column, in order
    np.testing.assert_array_equal(wide(many), np.cumsum(many, axis=0))


def test_a_function_in_parts_keeps_its_arrays_on_the_device(tmp_path, cuda_emulated):
    """The parts of a CUDA module's function in parts pass arrays to each other on the
    device: a call copies in only its argument and copies back only the lengths the next
    part takes and the results (they went to the host and back between parts), or with
    outputs='device' only the lengths."""
    import ctypes
    x = T.dvector("x")
    e = T.exp(x)
    m = codegen.Module("cu_chain_device")
    m.add_function("f", [x], [T.sum(T.nonzero_values(e - 1.5) * 2), T.flatnonzero(e > 2)])
    with cuda_emulated():
        mod = load_module(m.build(str(tmp_path)))
    assert "computed in 2 parts" in mod.f.__doc__
    copied = ctypes.CDLL(mod.__file__).cg_cuda_copied_bytes
    copied.restype = ctypes.c_longlong
    xv = np.random.RandomState(0).standard_normal(1000)
    ev = np.exp(xv)
    want = [np.sum((ev - 1.5)[ev - 1.5 != 0] * 2), np.flatnonzero(ev > 2)]
    for _ in range(2):
        before = copied(0), copied(1)
        got = mod.f(xv)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
        np.testing.assert_array_equal(got[1], want[1])
        assert copied(0) - before[0] == xv.nbytes
        assert copied(1) - before[1] == 8 * (3 + len(want[1]))  # two lengths, the results
    before = copied(1)
    on_device = mod.f(xv, outputs="device")  # the results stay there too
    assert copied(1) - before == 16
    np.testing.assert_allclose(on_device[0].get(), want[0], rtol=1e-12)
    np.testing.assert_array_equal(on_device[1].get(), want[1])


def test_arguments_with_negative_strides_are_read_on_cuda(tmp_path, cuda_emulated):
    """Reversed and stepped views (negative strides) are arguments as any other: the glue's
    strides in elements are signed (a byte stride divided by an unsigned element size wrapped
    around, and the span copied to the device was then beyond any memory)."""
    x = T.dmatrix("x")
    v = T.lvector("v")
    m = codegen.Module("cu_negative_strides")
    m.add_function("f", [x, v], [T.sum(x, axis=0) * 2, -x, T.cumsum(v)])
    with cuda_emulated():
        mod = load_module(m.build(str(tmp_path)))
    xv = np.arange(12.0).reshape(3, 4)
    vv = np.arange(7)
    for xa, va in ((xv[::-1], vv[::-1]), (xv[:, ::-2], vv[::-3]), (xv[::-2, ::-1], vv)):
        got = mod.f(xa, va)
        np.testing.assert_array_equal(got[0], xa.sum(axis=0) * 2)
        np.testing.assert_array_equal(got[1], -xa)
        np.testing.assert_array_equal(got[2], np.cumsum(va))


def test_a_scatter_into_new_state_starts_from_its_fill_on_cuda(tmp_path, cuda_emulated):
    """An embedding's gradient (a scatter-add into zeros) kept as new state, as the LSTM
    tutorial's adadelta keeps it: the device memory of the new state starts from the zeros
    (filled on the device, as every buffer that starts from a value), not from what the
    memory held before."""
    W = codegen.shared(np.ones((6, 3)), name="W")
    zg = codegen.shared(np.full((6, 3), 7.0), name="zg")
    x = T.lvector("x")
    g = T.grad(T.sum(W[x] * 2), W)
    m = codegen.Module("cu_scatter_state")
    m.add_function("f", [x], [], updates=[(zg, g), (W, W - 0.5 * g)])
    with cuda_emulated():
        mod = load_module(m.build(str(tmp_path)))
    mod.set_value("zg", np.full((6, 3), np.nan))
    w = np.ones((6, 3))
    for picks in ([1, 1, 4], [0, 5], [2, 2, 2, 2]):
        want = np.zeros((6, 3))
        np.add.at(want, picks, 2.0)
        mod.f(np.array(picks))
        w -= 0.5 * want
        np.testing.assert_array_equal(mod.get_value("zg"), want)
        np.testing.assert_array_equal(mod.get_value("W"), w)


def test_a_contiguous_copy_the_glue_makes_is_not_taken_for_a_view_on_cuda(tmp_path,
                                                                          cuda_emulated):
    """A reshape of an argument that another step reads as it is: the glue passes both, the
    reshape's array from np.ascontiguousarray, a view of the argument where that is
    contiguous and a copy where not; the copy has device memory of its own (it was taken for
    a view, at the offset between the two host arrays)."""
    a = T.lmatrix("a")
    m = codegen.Module("cu_contiguous_copy")
    m.add_function("f", [a], [T.sort(T.flatten(a)), T.argsort(a), a.reshape((-1, 2)) * 3])
    with cuda_emulated():
        mod = load_module(m.build(str(tmp_path)))
    base = np.random.RandomState(0).randint(-50, 50, size=(6, 8))
    for v in (base[:2, :4], base[::2, ::-2], base[::-3, 1::2], base.T[:4, :2]):
        got = mod.f(v)
        np.testing.assert_array_equal(got[0], np.sort(v.ravel()))
        np.testing.assert_array_equal(got[1], np.argsort(v, axis=-1, kind="stable"))
        np.testing.assert_array_equal(got[2], v.reshape(-1, 2) * 3)


@_EMULATED_ONLY
def test_a_strided_device_argument_that_is_made_contiguous_goes_through_the_host(
        tmp_path, cuda_emulated):
    """An argument the glue copies to contiguous memory (a reshape of it) that comes strided
    on the device: np.ascontiguousarray cannot read device memory, so the call copies its
    span to the host and takes it from there as a numpy argument; contiguous, it is read
    where it is."""
    x = T.dmatrix("x")
    m = codegen.Module("cu_device_contiguous")
    m.add_function("f", [x], [T.sort(T.flatten(x)), T.argsort(x)])
    with cuda_emulated():
        mod = load_module(m.build(str(tmp_path)))
    copied = _copied(mod)
    base = np.random.RandomState(1).standard_normal((4, 8))
    strided = base[:, 1::2]
    before = copied(0), copied(1)
    got = mod.f(_DeviceArray(strided))
    span = (3 * 8 + 3 * 2 + 1) * 8  # the bytes from its first element to its last
    assert copied(1) - before[1] == span + 2 * strided.nbytes  # its span, and the results
    assert copied(0) - before[0] == span + strided.nbytes  # in again: it, and its copy
    np.testing.assert_array_equal(got[0], np.sort(strided.ravel()))
    np.testing.assert_array_equal(got[1], np.argsort(strided, axis=-1, kind="stable"))
    contiguous = np.ascontiguousarray(strided)
    before = copied(0)
    got = mod.f(_DeviceArray(contiguous))
    assert copied(0) == before
    np.testing.assert_array_equal(got[0], np.sort(strided.ravel()))


def test_nan_guard_on_the_device_counts_what_it_found(tmp_path, cuda_emulated):
    """NanGuardMode's message on CUDA counts the NaN, Inf and values above 1e10 of the array
    that failed its check, as on the CPU; the kinds not asked for are counted, not errors."""
    from codegen.compile.mode import NanGuardMode
    x = T.dvector("x")
    with cuda_emulated():
        f = codegen.function([x], [T.log(x) * 2, T.exp(x)],
                             mode=NanGuardMode(nan_is_error=True, inf_is_error=True,
                                               big_is_error=True))
        g = codegen.function([x], T.exp(x), mode=NanGuardMode(nan_is_error=True,
                                                              inf_is_error=False,
                                                              big_is_error=False))
    with pytest.raises(FloatingPointError, match=r"produced 2 NaN, 1 Inf and 0 values above "
                                                 r"1e10 in "):
        f(np.array([0.0, -1.0, -2.0, 3.0]))
    with pytest.raises(FloatingPointError, match=r"produced 0 NaN, 0 Inf and 2 values above "
                                                 r"1e10 in "):
        f(np.array([30.0, 1.0, 40.0]))
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(g(np.array([1000.0, 30.0])), np.exp([1000.0, 30.0]))
    # the step's inputs summarized as the CPU's NanGuardMode does (a reversed, strided vector
    # with a NaN; a transposed float32 matrix; the output of an earlier step)
    m = T.fmatrix("m")
    outs = [T.log(x) * 2, T.log(m) + 1, T.log(T.exp(m) - 1.5)]
    guard = NanGuardMode(nan_is_error=True, inf_is_error=True, big_is_error=True)
    cpu = codegen.function([x, m], outs, mode=guard)
    with cuda_emulated():
        cuda = codegen.function([x, m], outs, mode=guard)
    xv = np.array([0.0, np.nan, -1.0, 5.0, 7.0])[::-2]
    for args, want in [((xv, np.ones((2, 3), "f")),
                        "inputs: x: shape (3,), min -1.0, max 7.0, nan 0, inf 0"),
                       ((np.ones(3), (np.arange(6, dtype="f").reshape(3, 2) - 2.5).T),
                        ": shape (2, 3), min -2.5, max 2.5, nan 0, inf 0"),
                       ((np.array([np.nan, 1.0]), np.full((1, 2), 0.1, "f")), "nan 1, inf 0")]:
        reports = []
        for f in (cpu, cuda):
            with pytest.raises(FloatingPointError) as failed:
                f(*args)
            reports.append(str(failed.value).split("\n")[-1])
        assert want in reports[1] and reports[0] == reports[1], reports


def test_state_given_again_at_the_same_address_is_copied_again_on_cuda(cuda_emulated):
    """A shared value replaced by an array at the address of the one before (scipy's
    fmin_cg hands logistic_cg.py's set_value(theta, borrow=True) new arrays where it freed
    the last ones; here views of one buffer), or set again after changing in place, is copied
    to the device again: the device copy stands for the array it was made from, not for an
    address."""
    w = codegen.shared(np.zeros(3), name="w")
    with cuda_emulated():
        f = codegen.function([], T.sum(w * 2))
        g = codegen.function([], [], updates=[(w, w + 1)])
    buf = np.zeros(3)
    for k in range(4):
        buf[:] = k
        w.set_value(buf[:], borrow=True)  # a new object, the same address
        assert f() == 6.0 * k
    w.set_value(buf, borrow=True)
    assert f() == 18.0
    buf[:] = 10.0
    w.set_value(buf, borrow=True)  # the same object, changed
    assert f() == 60.0
    g()
    assert f() == 66.0
    np.testing.assert_array_equal(w.get_value(), [11.0, 11.0, 11.0])


def test_a_function_in_parts_passes_a_contiguous_copy_of_an_argument_on_cuda(cuda_emulated):
    """A part that returns the contiguous copy the glue made of a strided or reversed
    argument (repeat reads x, and the next part gathers from it) hands the next part that
    copy's values on the device, not memory at the argument's offsets; an argument of one
    element taken with a negative stride is taken as any other."""
    x = T.vector("x")
    counts = T.mod(T.cast(x, "int64"), 4)
    with cuda_emulated():
        f = codegen.function([x], T.repeat(x, counts))
    for a in (np.array([1.0, 2.0, 3.0])[::-1], np.array([2.0, 5.0, 7.0, 1.0])[::2],
              np.array([[1.0, 2.0], [3.0, 6.0]])[:, 1], np.array([-2.0])[::-1]):
        np.testing.assert_array_equal(f(a), np.repeat(a, a.astype(int) % 4))
