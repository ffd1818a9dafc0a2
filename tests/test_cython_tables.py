"""Cython's scanner tables kept between processes (codegen.cython_tables)."""

import os
import pickle
import subprocess
import sys

import Cython.Plex as plex
import pytest
from Cython.Compiler import Lexicon as lexicon_source
from Cython.Plex import Actions, Lexicons, Machines

from codegen import cython_tables


@pytest.fixture(scope="module")
def built():
    """(Cython's lexicon specification with its actions wrapped, the actions by token
    number, the lexicon Plex builds from it)."""
    seen = {}

    class Capture:
        def __init__(self, specifications, *args):
            seen["spec"] = specifications

    saved = plex.Lexicon
    plex.Lexicon = Capture
    try:
        lexicon_source.make_lexicon()
    finally:
        plex.Lexicon = saved
    spec, actions = cython_tables._wrapped(seen["spec"], Lexicons.State, Actions)
    return spec, actions, Lexicons.Lexicon(spec)


def _describe(machine):
    """Every state as (its moves as target numbers, its action), in order: equal for two
    machines exactly when they scan alike."""
    out = []
    for state in machine.states:
        moves = {key: None if target is None else target["number"]
                 for key, target in state.items() if key not in ("number", "action")}
        action = state["action"]
        out.append((state["number"], moves, None if action is None else
                    (type(action).__name__, repr(action))))
    initial = {name: state["number"] for name, state in machine.initial_states.items()}
    return out, initial


def test_loaded_tables_are_the_machine_plex_builds(built):
    spec, actions, lexicon = built
    data = pickle.loads(pickle.dumps(cython_tables._dump(lexicon.machine, actions)))
    loaded = cython_tables._load(data, actions, Machines)
    want_states, want_initial = _describe(lexicon.machine)
    got_states, got_initial = _describe(loaded)
    assert got_initial == want_initial
    assert len(got_states) == len(want_states) > 100
    assert sum(len(moves) for _, moves, _ in want_states) > 500_000  # Unicode identifiers
    for got, want in zip(got_states, want_states):
        assert got == want
    # the stored form is small: long runs of identifier characters are stored once
    assert len(pickle.dumps(data)) < 500_000


def test_tables_from_another_token_list_are_not_used(built):
    spec, actions, lexicon = built
    data = cython_tables._dump(lexicon.machine, actions)
    assert cython_tables._load(data, actions[:-1], Machines) is None
    assert cython_tables._load({**data, "format": -1}, actions, Machines) is None


_SCRIPT = """
import sys, time
from codegen import cython_tables
cython_tables.install(sys.argv[1])
from Cython.Compiler.Code import UtilityCodeBase, sub_tempita
print(len(UtilityCodeBase._utility_cache))  # utility files already split, before the build
print(len(sub_tempita.codegen_memo))  # templates already rendered
from Cython.Compiler.Main import CompilationOptions, compile_single, default_options
options = CompilationOptions(default_options, language_level=3, output_file=sys.argv[3])
assert compile_single(sys.argv[2], options, "m").num_errors == 0
cython_tables.save_utilities()
"""


def test_a_build_through_the_tables_emits_the_same_c(tmp_path):
    """First process makes and saves the tables (and the Tempita renderings), second loads
    them, third finds corrupt files and fourth a lexicon table missing a part, and they make
    them again: the C is the same each time (a string, unicode identifiers
    and an f-string exercise the scanner's states)."""
    pyx = tmp_path / "m.pyx"
    pyx.write_text("def f(x, n: int = 3):\n    π = 'a\\tb' * n\n    return f'{π}{x!r}'\n",
                   encoding="utf-8")
    tables = tmp_path / "tables"
    outputs, preloaded, rendered = [], [], []

    def run(i):
        c = tmp_path / f"m{i}.c"
        out = subprocess.run([sys.executable, "-c", _SCRIPT, str(tables), str(pyx), str(c)],
                             check=True, capture_output=True, text=True)
        utility, templates = map(int, out.stdout.split())
        preloaded.append(utility)
        rendered.append(templates)
        outputs.append(c.read_text())

    run(0)
    saved = sorted(os.listdir(tables))
    assert [name.split("-")[1] for name in saved] == ["lexicon", "tempita", "utility"]
    run(1)
    lexicon = pickle.loads((tables / saved[0]).read_bytes())
    for name in saved:
        (tables / name).write_bytes(b"not a pickle")
    run(2)
    assert pickle.loads((tables / saved[0]).read_bytes())["format"] == cython_tables.FORMAT
    assert "ModuleSetupCode.c" in pickle.loads((tables / saved[2]).read_bytes())
    assert len(pickle.loads((tables / saved[1]).read_bytes())) == rendered[1]
    del lexicon["pieces"]  # the right form and tokens, a part missing: built again
    (tables / saved[0]).write_bytes(pickle.dumps(lexicon))
    run(3)
    assert "pieces" in pickle.loads((tables / saved[0]).read_bytes())
    assert preloaded[1] >= preloaded[0] + 5 and preloaded[2] == preloaded[0]
    # Cython 3.1 renders the builtin exceptions' properties (over 1000 templates); 3.0 fewer
    assert rendered[0] == 0 and rendered[1] > 10 and rendered[2] == 0
    body = [text.split("\n", 3)[3] for text in outputs]  # past Cython's version header
    assert body[0] == body[1] == body[2] == body[3]
    assert "__pyx_pf_1m_f" in body[0]


def test_tempita_memo_keys_and_the_name_it_leaves():
    """Renderings are memoized by template, plain context (lists apart from tuples) and name;
    a context holding anything else is rendered each time; a hit leaves ``__name`` in the
    context as Cython's own function does."""
    from Cython.Compiler import Code
    key = cython_tables._tempita_key
    assert key("", {}, None, None) is None
    assert key("{{x}}", {"x": [1]}, None, None) != key("{{x}}", {"x": (1,)}, None, None)
    assert key("{{x}}", {"x": object()}, None, None) is None
    assert key("{{x}}", {"x": 1}, "F.c", "n")[1] == "F.c:n"

    class FakeCode:
        calls = []

        @staticmethod
        def sub_tempita(s, context, file=None, name=None):
            FakeCode.calls.append(s)
            context["__name"] = f"{file}:{name}"
            return Code.sub_tempita(s, dict(context), file, name)

    cython_tables._memo_tempita(FakeCode, {})
    first, second = {"x": 2}, {"x": 2}
    assert FakeCode.sub_tempita("a{{x}}", first, "F.c", "n") == "a2"
    assert FakeCode.sub_tempita("a{{x}}", second, "F.c", "n") == "a2"
    assert len(FakeCode.calls) == 1 and second["__name"] == "F.c:n"
    assert FakeCode.sub_tempita("a{{x}}", {"x": object()}, "F.c", "n").startswith("a<object")
    assert len(FakeCode.calls) == 2


def test_a_cython_that_moved_its_internals_builds_slower_with_a_note(tmp_path):
    """No utility cache where the tables expect one: one line on stderr, and the build works."""
    script = (
        "import sys\nfrom codegen import cython_tables as t\n"
        "def moved():\n    raise AttributeError('no UtilityCodeBase._utility_cache')\n"
        "t._utility_key = moved\nt.install(sys.argv[1]); t.install(sys.argv[1])\n"
        "t.save_utilities()\n"
        "from Cython.Compiler.Main import CompilationOptions, compile_single, default_options\n"
        "o = CompilationOptions(default_options, language_level=3, output_file=sys.argv[3])\n"
        "print(compile_single(sys.argv[2], o, 'm').num_errors)\n")
    pyx = tmp_path / "m.pyx"
    pyx.write_text("def f(x):\n    return x + 1\n")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "t"), str(pyx),
                          str(tmp_path / "m.c")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0" and (tmp_path / "m.c").exists()
    notes = [line for line in out.stderr.splitlines() if "tables are not kept" in line]
    assert len(notes) == 1 and "AttributeError" in notes[0]
