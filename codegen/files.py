"""Writing generated files: each replaces its old version in one step."""

import contextlib
import os
import tempfile

_EXECUTABLE_SUFFIXES = (".so", ".pyd")


@contextlib.contextmanager
def replacing(path):
    """A binary file that replaces ``path`` in one step when the block ends (a temporary
    file of a name of its own until then), so that processes writing the same folder at once
    all succeed and readers see the old file or the new one, never part of one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.chmod(tmp, 0o755 if path.endswith(_EXECUTABLE_SUFFIXES) else 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_if_changed(path, text):
    """Write ``text`` to ``path`` unless it holds it already (its time stamp then stays)."""
    if os.path.exists(path):
        with open(path) as f:
            if f.read() == text:
                return
    with replacing(path) as f:
        f.write(text.encode())


def joined(sources):
    """The files of a module ({file name: text}) as one text (``codegen show``), each under a
    line naming it."""
    return "\n".join(f"# {'-' * 30} {fname}\n{text}" for fname, text in sources.items())
