"""One direction: no stage of codegen imports a later one (at the top of a file or inside a
function). A later stage that an earlier one calls at run time registers itself
(``codegen.graph.late``)."""

import ast
import os

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "codegen")

#: In order: a stage may import its own and earlier ones.
STAGES = [
    ("config", "configparser", "files", "graph", "printing"),  # the foundation
    # the graph language users write in
    ("ops", "scalar", "tensor", "sparse", "sandbox", "ifelse", "scan_module", "misc", "updates"),
    ("rewrite",),
    ("autodiff", "gradient"),  # gradients are built, then simplified by rewrites
    ("lower",),
    ("backends", "build", "cython_tables"),
    ("compile",),
    # namespaces and the command
    ("cli", "__init__", "__main__", "tensor/__init__", "gof", "compat"),
]
STAGE_OF = {name: k for k, names in enumerate(STAGES) for name in names}


def _imports():
    """(file, line, importing stage, imported stage) of every codegen import."""
    found = []
    for folder, _, files in os.walk(ROOT):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, ROOT)
            part = rel.split(os.sep)[0]
            stage = part[:-3] if part.endswith(".py") else part
            if rel == os.path.join("tensor", "__init__.py"):  # `import codegen.tensor as T`
                stage = "tensor/__init__"
            with open(path) as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                targets = []
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                elif isinstance(node, ast.Import):
                    targets = [a.name for a in node.names]
                for target in targets:
                    parts = target.split(".")
                    if parts[0] == "codegen" and len(parts) > 1 and parts[1] in STAGE_OF:
                        found.append((rel, node.lineno, stage, parts[1]))
    return sorted(set(found))


def test_every_part_of_the_package_has_a_stage():
    parts = {p[:-3] if p.endswith(".py") else p for p in os.listdir(ROOT)
             if p.endswith(".py") or os.path.isdir(os.path.join(ROOT, p, ""))}
    parts -= {"__pycache__", "templates"}
    assert parts <= set(STAGE_OF), sorted(parts - set(STAGE_OF))


def test_no_stage_imports_a_later_one():
    backward = [f"{path}:{line}: {stage} imports {target}"
                for path, line, stage, target in _imports()
                if STAGE_OF[target] > STAGE_OF[stage]]
    assert backward == [], "\n".join(backward)


def test_the_check_sees_imports_inside_functions():
    # compile/compiled.py imports codegen.lower.module inside a method
    assert ("compile/compiled.py", "compile", "lower") in {(p, s, t) for p, _, s, t in _imports()}


def test_every_package_is_listed_for_installation():
    """pyproject.toml lists the packages by name: one missing is left out of a wheel (and of
    every install but an editable one)."""
    import tomllib
    with open(os.path.join(os.path.dirname(ROOT), "pyproject.toml"), "rb") as f:
        listed = set(tomllib.load(f)["tool"]["setuptools"]["packages"])
    found = {os.path.relpath(folder, os.path.dirname(ROOT)).replace(os.sep, ".")
             for folder, _, files in os.walk(ROOT) if "__init__.py" in files}
    assert found <= listed, sorted(found - listed)


def test_late_names_load_their_stage_in_a_fresh_process():
    """What the graph language calls late (a gradient inside conv2d_grad_wrt_inputs, the
    reference behind eval) works in a process that imported nothing else: each name's
    stage is imported on first use (a transposed convolution once failed so, with
    KeyError 'grad', in a program that had not taken a gradient yet)."""
    import subprocess
    import sys

    from codegen.graph import late
    code = ("import codegen.tensor as T\n"
            "g, w = T.tensor4('g'), T.tensor4('w')\n"
            "T.nnet.abstract_conv.conv2d_grad_wrt_inputs(g, w, (None, 2, 5, 5), (3, 2, 3, 3))\n"
            "from codegen.graph import late\n"
            f"for name in {sorted(late._HOMES)!r}:\n"
            "    assert callable(late.get(name)), name\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
