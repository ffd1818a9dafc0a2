import os
import shutil
import tempfile

import numpy as np
import pytest

# one build cache per test run, shared by every test (and by subprocesses through the env),
# removed at the end of the run that made it
_OWN_CACHE = None
if "CODEGEN_CACHE_DIR" not in os.environ:
    _OWN_CACHE = os.environ["CODEGEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="codegen-test-cache-")

import codegen  # noqa: E402

codegen.config.cache_dir = os.environ["CODEGEN_CACHE_DIR"]


@pytest.fixture(autouse=True)
def _restore_config():
    saved = dict(vars(codegen.config))
    yield
    for key, value in saved.items():
        setattr(codegen.config, key, value)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_sessionfinish(session, exitstatus):
    if _OWN_CACHE is not None:
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)


@pytest.fixture(scope="session")
def cuda_emulated():
    """Build for the CUDA backend with its kernels run on the host (emulation.h), or on the
    GPU when CODEGEN_TEST_CUDA=device (make gpu-check): call the returned function around a
    build; it restores the device and the environment after."""
    import contextlib

    @contextlib.contextmanager
    def emulated():
        saved_device, saved_env = codegen.config.device, os.environ.get("CODEGEN_CUDA_EMULATION")
        codegen.config.device = "cuda"
        os.environ["CODEGEN_CUDA_EMULATION"] = \
            "0" if os.environ.get("CODEGEN_TEST_CUDA") == "device" else "1"
        try:
            yield
        finally:
            codegen.config.device = saved_device
            if saved_env is None:
                del os.environ["CODEGEN_CUDA_EMULATION"]
            else:
                os.environ["CODEGEN_CUDA_EMULATION"] = saved_env
    return emulated
