"""codegen.config behaves like an object: getattr/setattr/delattr, vars, monkeypatch."""

import pytest

import codegen


def test_options_are_attributes_and_validated():
    config = codegen.config
    assert getattr(config, "floatX") == config.floatX
    assert "cache_dir" in vars(config)
    setattr(config, "floatX", "float32")
    assert config.floatX == "float32"
    with pytest.raises(ValueError, match="floatX: expected one of"):
        config.floatX = "float16"
    assert config.floatX == "float32"
    with pytest.raises(AttributeError, match="no option 'flaotX'"):
        config.flaotX = "float32"
    with pytest.raises(AttributeError, match="no option 'nothing'"):
        config.nothing


def test_delattr_restores_the_default():
    codegen.config.mode = "FAST_COMPILE"
    delattr(codegen.config, "mode")
    assert codegen.config.mode == "FAST_RUN"


def test_monkeypatch_sets_and_undoes(tmp_path):
    before = codegen.config.cache_dir
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(codegen.config, "cache_dir", str(tmp_path))
        assert codegen.config.cache_dir == str(tmp_path)
    assert codegen.config.cache_dir == before


def test_flags_are_read(monkeypatch):
    monkeypatch.setenv("THEANO_FLAGS", "floatX=float32,device=gpu0")
    fresh = type(codegen.config)()
    assert (fresh.floatX, fresh.device) == ("float32", "cuda")
    monkeypatch.setenv("CODEGEN_FLAGS", "floatX")
    with pytest.raises(ValueError, match="CODEGEN_FLAGS: expected KEY=VALUE"):
        type(codegen.config)()


def _no_nvcc(monkeypatch):
    """This machine as one without the CUDA toolkit."""
    import codegen.backends.cuda as cuda
    monkeypatch.delenv("CODEGEN_CUDA_EMULATION", raising=False)
    monkeypatch.setattr(cuda, "nvcc", lambda: None)


def test_a_device_that_cannot_build_here_is_a_clear_error(monkeypatch):
    """config.device = 'cuda' without the CUDA toolkit never compiles for the CPU in silence:
    the error says what is missing."""
    import numpy as np

    import codegen.tensor as T
    from codegen.backends import BackendUnavailable
    _no_nvcc(monkeypatch)
    x = T.vector("x")
    codegen.config.device = "cuda"
    with pytest.raises(BackendUnavailable, match="device='cuda'.*nvcc.*device='cpu'"):
        codegen.function([x], x * 2)
    with pytest.raises(BackendUnavailable, match="nvcc"):
        codegen.Module("m").add_function("f", [x], x * 2).source()
    f = codegen.function([x], x * 2, mode="FAST_COMPILE")  # the reference needs no backend
    assert f(np.ones(2)).tolist() == [2.0, 2.0]
    codegen.config.device = "cpu"
    assert codegen.function([x], x * 2)(np.ones(2)).tolist() == [2.0, 2.0]


def test_codegen_build_names_the_backend_it_cannot_use(tmp_path, monkeypatch, capsys):
    from codegen import cli
    _no_nvcc(monkeypatch)
    spec = tmp_path / "spec.py"
    spec.write_text("import codegen, codegen.tensor as T\nx = T.vector('x')\n"
                    "m = codegen.Module('m')\nm.add_function('f', [x], x * 2)\n")
    assert cli.main(["build", str(spec), "--out", str(tmp_path), "--backend", "cuda"]) == 1
    assert "backend 'cuda'" in capsys.readouterr().err
    assert cli.main(["build", str(spec), "--out", str(tmp_path), "--backend", "nothing"]) == 1
    assert "no backend 'nothing'" in capsys.readouterr().err
    monkeypatch.setenv("THEANO_FLAGS", "device=gpu")
    assert type(codegen.config)().device == "cuda"
