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
