"""Cython's own tables, kept between processes: its scanner and its parsed utility code.

Before it parses its first .pyx, a process running Cython builds Cython's lexer: a Plex DFA of
about 500 states, made from regular expressions by subset construction. That costs 0.6 s, a
quarter of a cold build of a small module here (Cython then translates the module itself in
about 0.3 s). It also splits the C files of its utility code into sections (0.1 s). Both
depend only on the installed Cython, so codegen keeps them in files of its own cache, keyed by
Cython's version and the files they are made from, and the next process loads them in a small
fraction of that time.

How, for the lexer: ``Cython.Compiler.Lexicon.make_lexicon`` looks up ``Cython.Plex.Lexicon``
when it is called, so ``install`` puts a subclass there that loads the tables, or builds them
once through Plex and saves them. A saved table names each state's action by the number of the
token that owns it; the subclass wraps every token's action up front (as Plex would) so that
loading finds the same action objects. For the utility code: Cython keeps the sections of each
file it has read in ``UtilityCodeBase._utility_cache`` (plain strings); ``install`` fills it
from the saved copy and ``save_utilities`` writes it back when a build read new files.

Cython also renders Tempita templates of its utility code, 3700 of them before it reads a
line of the module (most for the properties of the builtin exceptions, 0.3 s): ``install``
puts a memo in front of ``Cython.Compiler.Code.sub_tempita``, keyed by the template, its
context (plain values only) and its name, filled from and saved to a third file.

Anything unexpected (a file that does not load, a different Plex) falls back to Cython's own
work: the cache can cost nothing but its lookup.
"""

import hashlib
import os
import pickle
import tempfile

FORMAT = 1


def _write(path, data):
    """Pickle ``data`` to ``path`` atomically; a read-only cache is left alone."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".table-", dir=os.path.dirname(path))
        with os.fdopen(fd, "wb") as f:
            pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:  # every process then does its own work
        pass


def _read(path):
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except Exception:  # absent or unreadable
        return None


def _key():
    """Cython's version and the sources of its lexicon and of Plex's Lexicon."""
    import Cython
    from Cython.Compiler import Lexicon as lexicon_source
    from Cython.Plex import Lexicons
    digest = hashlib.sha256(f"{FORMAT} {Cython.__version__}".encode())
    for module in (lexicon_source, Lexicons):
        with open(module.__file__, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:20]


def _wrapped(specifications, State, Actions):
    """(specifications with every action an Action object, the actions by token number):
    the wrapping Plex's ``add_token_to_machine`` does, done first so that it is shared."""
    actions, out = [None], []  # token numbers start at 1

    def wrap(token):
        pattern, action = token
        if not isinstance(action, Actions.Action):
            action = Actions.Call(action) if callable(action) else Actions.Return(action)
        actions.append(action)
        return (pattern, action)

    for spec in specifications:
        if isinstance(spec, State):
            out.append(State(spec.name, [wrap(token) for token in spec.tokens]))
        else:
            out.append(wrap(spec) if isinstance(spec, tuple) else spec)
    return out, actions


def _runs(state, number):
    """A state's one-character moves as runs (first code, end code, target state number),
    split at 128 so that the ASCII runs stay apart from the long non-ASCII ones."""
    runs = []
    for code, target in sorted((ord(key), number[id(target)])
                               for key, target in state.items() if len(key) == 1):
        last = runs[-1] if runs else None
        if last and last[1] == code and last[2] == target and code != 128:
            last[1] = code + 1
        else:
            runs.append([code, code + 1, target])
    return runs


def _dump(machine, actions):
    """The machine as plain data. Each state's moves on non-ASCII characters are mostly one
    long run set to one target (identifier characters, ~150000 of them), shared by many
    states: that set is stored once as a "piece" and the rest of the moves as patches."""
    number = {id(state): i for i, state in enumerate(machine.states)}
    token = {}
    for i, action in enumerate(actions):
        token.setdefault(id(action), i)
    pieces, states = {}, []
    for state in machine.states:
        runs = _runs(state, number)
        wide = {}
        for first, end, target in runs:
            if first >= 128:
                wide.setdefault(target, []).append((first, end))
        piece = None
        if wide:
            target = max(wide, key=lambda t: sum(end - first for first, end in wide[t]))
            piece = pieces.setdefault((tuple(wide[target]), target), len(pieces))
            runs = [r for r in runs if r[0] < 128 or r[2] != target]
        special = {key: None if target is None else number[id(target)]
                   for key, target in state.items()
                   if len(key) != 1 and key not in ("number", "action")}
        action = state["action"]
        states.append((piece, [tuple(r) for r in runs], special, state["number"],
                       None if action is None else token[id(action)]))
    initial = {name: number[id(state)] for name, state in machine.initial_states.items()}
    return {"format": FORMAT, "pieces": list(pieces), "states": states, "initial": initial,
            "tokens": len(actions)}


def _chars(ranges):
    return "".join("".join(map(chr, range(first, end))) for first, end in ranges)


def _load(data, actions, Machines):
    """The FastMachine ``_dump`` describes. Filling an empty dict from another copies its
    table, so each state starts as a copy of its piece."""
    if data.get("format") != FORMAT or data["tokens"] != len(actions):
        return None
    machine = Machines.FastMachine()
    states = [{} for _ in data["states"]]
    pieces = [dict.fromkeys(_chars(ranges), states[target]) for ranges, target in data["pieces"]]
    for state, (piece, runs, special, number, action) in zip(states, data["states"]):
        if piece is not None:
            state.update(pieces[piece])
        for first, end, target in runs:
            state.update(dict.fromkeys(_chars([(first, end)]), states[target]))
        for key, target in special.items():
            state[key] = None if target is None else states[target]
        state["number"] = number
        state["action"] = None if action is None else actions[action]
    machine.states.extend(states)
    for name, i in data["initial"].items():
        machine.make_initial_state(name, states[i])
    return machine


def default_directory():
    from codegen.config import tool_cache_dir
    return tool_cache_dir("cython-tables")


def _utility_key():
    """Cython's version and the name, size and time of each of its utility code files."""
    import Cython
    from Cython.Compiler import Code
    files = sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns)
                   for e in os.scandir(Code.get_utility_dir()))
    return hashlib.sha256(repr((FORMAT, Cython.__version__, files)).encode()).hexdigest()[:20]


_utilities = {}  # "path": this process's utility table file, "files": the files saved there
_tempita = {}  # "path": this process's Tempita memo file, "saved": entries it had when read

_PLAIN = (str, int, float, bool, type(None))


def _frozen(value):
    """``value`` as a hashable key (lists tagged apart from tuples), or raise TypeError."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (tuple, list)):
        return (type(value).__name__,) + tuple(map(_frozen, value))
    raise TypeError(type(value))


def _tempita_key(s, context, file, name):
    """What a rendering depends on, as ``sub_tempita`` sees it; None when not plain data."""
    if not s:
        return None
    seen = dict(context)
    name = f"{file}:{name}" if file else name
    if name:
        seen["__name"] = name
    try:
        items = tuple(sorted((k, _frozen(v)) for k, v in seen.items()))
    except TypeError:  # a value of another type, or a key that is not a string
        return None
    return (s, name, items)


def _memo_tempita(Code, memo):
    """Put a memo of renderings in front of ``Code.sub_tempita`` (once per process)."""
    original = Code.sub_tempita
    if getattr(original, "codegen_memo", None) is not None:
        original.codegen_memo.update(memo)
        return

    def sub_tempita(s, context, file=None, name=None):
        key = _tempita_key(s, context, file, name)
        found = sub_tempita.codegen_memo.get(key) if key is not None else None
        if found is None:
            found = original(s, context, file, name)
            if key is not None and isinstance(found, str):
                sub_tempita.codegen_memo[key] = found
        elif key[1]:
            context["__name"] = key[1]  # as the original leaves it
        return found

    sub_tempita.codegen_memo = memo
    Code.sub_tempita = sub_tempita


_fallback = {}  # "note": why this process builds without the tables (set once)


def install(directory=None):
    """Make this process's Cython lexicon and utility code come from ``directory``.

    The tables reach into Cython's internals; a Cython that has moved them builds as it
    would without codegen, only slower, after a one-line note (never a failed build).
    """
    if _fallback:
        return
    try:
        _install(directory or default_directory())
    except Exception as exc:  # noqa: BLE001 - any change in Cython's internals
        _fallback["note"] = f"{type(exc).__name__}: {exc}"
        import sys
        print(f"codegen: Cython's tables are not kept between builds with this Cython "
              f"({_fallback['note']}); builds are slower", file=sys.stderr)


def _install(directory):
    import Cython.Plex as plex
    from Cython.Compiler import Code
    from Cython.Plex import Actions, Machines
    from Cython.Plex.Lexicons import State
    base = plex.Lexicon
    if getattr(base, "codegen_tables", False):
        return
    path = os.path.join(directory, f"cython-lexicon-{_key()}.pickle")

    class Lexicon(base):
        codegen_tables = True

        def __init__(self, specifications, debug=None, debug_flags=7):
            specifications, actions = _wrapped(specifications, State, Actions)
            try:
                machine = _load(_read(path), actions, Machines)
            except Exception:  # absent, unreadable or not tables of this form: build them
                machine = None
            if machine is not None:
                self.machine = machine
                return
            base.__init__(self, specifications, debug, debug_flags)
            _write(path, _dump(self.machine, actions))

    plex.Lexicon = Lexicon
    utility_key = _utility_key()
    _utilities["path"] = os.path.join(directory, f"cython-utility-{utility_key}.pickle")
    saved = _read(_utilities["path"])
    if not isinstance(saved, dict):
        saved = {}
    cache = Code.UtilityCodeBase._utility_cache
    for name, sections in saved.items():
        cache.setdefault(name, sections)
    _utilities["files"] = set(saved)
    _tempita["path"] = os.path.join(directory, f"cython-tempita-{utility_key}.pickle")
    memo = _read(_tempita["path"])
    memo = memo if isinstance(memo, dict) and all(
        isinstance(k, tuple) and len(k) == 3 and isinstance(v, str)
        for k, v in memo.items()) else {}
    _tempita["saved"] = len(memo)
    _memo_tempita(Code, memo)


def save_utilities():
    """After a build: save Cython's utility code table if the build read new files, and the
    Tempita memo if it rendered new templates."""
    if _fallback:
        return
    from Cython.Compiler import Code
    cache = Code.UtilityCodeBase._utility_cache
    if "path" in _utilities and not set(cache) <= _utilities["files"]:
        _write(_utilities["path"], dict(cache))
        _utilities["files"] = set(cache)
    memo = getattr(Code.sub_tempita, "codegen_memo", None)
    if "path" in _tempita and memo is not None and len(memo) > _tempita["saved"]:
        _write(_tempita["path"], dict(memo))
        _tempita["saved"] = len(memo)
