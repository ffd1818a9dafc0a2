"""``make lasagne``: Lasagne 0.1's own test suite, unchanged, on codegen.

    python tests/lasagne_suite.py [pytest arguments]

Lasagne's tests are not in its wheel: its source release is fetched from PyPI (pip
download) into a temporary folder, and its tests run there, their ``import theano`` answered
by ``codegen.install_as_theano()``. They also need the ``mock`` package, which ``make
lasagne`` installs (Python 3.11's unittest.mock reads a spec's properties, which Lasagne's
mocked layers raise from). Two of the release's files are written for a pytest of 2015 and
are left out: its setup.cfg (``-c`` gives pytest an empty configuration) and the package's
conftest.py (``--confcutdir`` stops at the tests; that file only kept the GPU-only layer
modules from doctest collection, which this run does not do). Lasagne's tests of its cuDNN,
corrmm and cuda-convnet layers skip themselves, as under Theano without a GPU; its examples
(they download MNIST) are its one slow test and are not run. Prints pytest's summary and
exits as pytest does.
"""

import glob
import os
import subprocess
import sys
import tarfile
import tempfile

import codegen

RELEASE = "Lasagne==0.1"


def fetch_source(release, work):
    """The folder of ``release``'s source release (pip download from PyPI) unpacked in
    ``work``."""
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--no-binary", ":all:", release, "-d", work], check=True)
    (archive,) = glob.glob(os.path.join(work, "*.tar.gz"))
    with tarfile.open(archive) as tar:
        tar.extractall(work, filter="data")
    (source,) = [p for p in glob.glob(os.path.join(work, "*")) if os.path.isdir(p)]
    return source


def main(args):
    with tempfile.TemporaryDirectory() as work:
        source = fetch_source(RELEASE, work)
        tests = os.path.join(source, "lasagne", "tests")
        config = os.path.join(work, "pytest.ini")
        with open(config, "w") as f:
            f.write("[pytest]\n")
        codegen.install_as_theano()
        import pytest
        return pytest.main([tests, "-c", config, "--rootdir", source, "--confcutdir", tests,
                            "-q", "-n", "0", "-p", "no:cacheprovider",
                            "-W", "ignore::DeprecationWarning"] + args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
