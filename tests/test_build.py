"""Builds and caches (codegen.build): concurrent builds, damaged entries, what keys a cache."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import codegen
import codegen.tensor as T
from codegen import build
from codegen.compile import graphcache

#: Builds module ``race`` into the folder argv[1] (cache argv[2]), imports it and checks its
#: initial state and a call; prints "ok".
RACE = textwrap.dedent("""
    import sys
    import numpy as np
    import codegen, codegen.tensor as T
    from codegen.compile.module import load_module
    codegen.config.cache_dir = sys.argv[2]
    x = T.vector("x")
    w = codegen.shared(np.arange(4.0), name="w")
    module = codegen.Module("race")
    module.add_function("step", [x], T.sum(w * x), updates=[(w, w + x)])
    m = load_module(module.build(sys.argv[1]))
    assert np.array_equal(m.get_value("w"), np.arange(4.0))
    assert m.step(np.ones(4)) == 6.0
    print("ok")
""")


def _leftovers(folder):
    """Temporary files and folders a build left behind (lock files excepted)."""
    return [name for name in os.listdir(folder)
            if name.startswith(".") and not name.endswith(".lock") or name.endswith(".tmp")]


def test_concurrent_builds_into_one_folder_and_one_cache_all_succeed(tmp_path):
    """15. Four processes build the same module into one folder through one cold cache."""
    out, cache = tmp_path / "out", tmp_path / "cache"
    runs = [subprocess.Popen([sys.executable, "-c", RACE, str(out), str(cache)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(4)]
    results = [run.communicate(timeout=300) for run in runs]
    for run, (stdout, stderr) in zip(runs, results):
        assert run.returncode == 0 and stdout.strip() == "ok", stderr[-2000:]
    assert _leftovers(out) == [] and _leftovers(cache) == []
    assert sorted(p.suffix for p in out.iterdir()) == [".c", ".h", ".npz", ".pyx", ".so"]


def _small_source(tag):
    x = T.vector("x")
    module = codegen.Module(f"entry_{tag}")
    module.add_function("f", [x], x * float(tag))
    flags = build.compiler_flags()
    return module.sources(), flags


def _import_and_call(path, tag):
    """Import the extension at ``path`` in a fresh interpreter and call it."""
    code = (f"from codegen.build import load; m = load('entry_{tag}', {str(path)!r}); "
            f"import numpy as np; print(m.f(np.ones(2))[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    return out.returncode, out.stdout.strip()


@pytest.mark.parametrize("damage", ["truncated", "deleted", "another", "no_digest",
                                    "garbage_digest"])
def test_a_damaged_cache_entry_is_built_again(tmp_path, monkeypatch, damage):
    """16. Every entry is verified before use: a truncated, deleted or replaced extension,
    or one without its digest, is built again instead of loaded (or left to fail)."""
    monkeypatch.setattr(codegen.config, "cache_dir", str(tmp_path))
    source, flags = _small_source(3)
    path = build.build("entry_3", source, flags)
    good = open(path, "rb").read()
    if damage == "truncated":
        with open(path, "wb") as f:
            f.write(good[: len(good) // 2])
    elif damage == "deleted":
        os.remove(path)
    elif damage == "another":
        other_source, _ = _small_source(5)
        shutil.copy(build.build("entry_5", other_source, flags), path)
    elif damage == "no_digest":
        os.remove(path[: -len(build._ext_suffix())] + build.DIGEST_SUFFIX)
    else:
        with open(path[: -len(build._ext_suffix())] + build.DIGEST_SUFFIX, "wb") as f:
            f.write(b"\xff\x00 not a digest")
    assert not build.verified(path)
    again = build.build("entry_3", source, flags)
    assert again == path and build.verified(path)
    assert _leftovers(tmp_path) == []
    assert _import_and_call(path, 3) == (0, "3.0")


def test_the_graph_cache_verifies_what_it_points_at(tmp_path):
    """A graph-cache hit whose extension was damaged (here, truncated by another process
    after the first one built it) builds again, in a fresh process."""
    script = textwrap.dedent(f"""
        import numpy as np, codegen, codegen.tensor as T
        codegen.config.cache_dir = {str(tmp_path)!r}
        x = T.vector("x")
        f = codegen.function([x], x * 7.0)
        print(f.executable.module.__file__, f(np.ones(2))[0])
    """)

    def run():
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout.split()

    path, value = run()
    assert value == "7.0" and build.verified(path)
    with open(path, "r+b") as handle:
        handle.truncate(100)
    again, value = run()
    assert (again, value) == (path, "7.0") and build.verified(path)


def test_the_graph_cache_fingerprint_covers_the_templates(monkeypatch):
    """A template edited in a source checkout must not keep serving the old modules."""
    from codegen.backends.templating import generator_files
    files = generator_files()
    template = next(p for p in files if p.endswith(os.path.join("cython", "module.pyx.j2")))
    assert any(p.endswith(os.path.join("codegen", "build.py")) for p in files)
    monkeypatch.setattr(graphcache, "_FINGERPRINT", None)
    before = graphcache._fingerprint()
    stat = os.stat(template)
    try:
        os.utime(template, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        monkeypatch.setattr(graphcache, "_FINGERPRINT", None)
        assert graphcache._fingerprint() != before
    finally:
        os.utime(template, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_large_constants_are_embedded_packed_and_read_back_exactly():
    """Constants past PACKED_CONSTANT elements go into the glue packed (zlib, base64), with
    their dtype, shape and first values in a comment; the runtime reads back the same array
    (every dtype a constant has); small ones stay readable list literals."""
    import numpy as np

    from codegen.backends.cython import render, runtime
    rng = np.random.default_rng(0)
    arrays = [np.arange(2400, dtype=np.int64).reshape(96, 25),
              rng.standard_normal((17, 31)).astype(np.float32), rng.random(300) < 0.5,
              rng.integers(-5, 5, (3, 4, 30)).astype(np.int8)]
    for data in arrays:
        text = render.constant_text(data)
        assert text.startswith(f"_unpacked(  # {data.dtype} {data.shape}: ")
        assert max(len(line) for line in text.splitlines()) <= 100
        back = eval(text, {"_unpacked": runtime._unpacked, "np": np})
        assert back.dtype == data.dtype and back.flags.writeable
        np.testing.assert_array_equal(back, data)
    assert render.constant_text(np.arange(4)) == "np.array([0, 1, 2, 3], dtype=np.int64)"


def test_a_glue_of_very_many_arrays_compiles_at_O0(tmp_path):
    flags = ["-Og", "-fwrapv"]
    small, large = tmp_path / "small.pyx", tmp_path / "large.pyx"
    small.write_text("_stride(a, 0, 8)\n" * build.GLUE_OG_MAX_STRIDES)
    large.write_text("_stride(a, 0, 8)\n" * (build.GLUE_OG_MAX_STRIDES + 1))
    assert build._glue_level(str(small), flags) == flags
    assert build._glue_level(str(large), flags) == ["-O0", "-fwrapv"]
