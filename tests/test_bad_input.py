"""Bad input (tests/badinput.py): a correct result or a clear error, and no state change."""

import badinput
import pytest


@pytest.fixture(scope="module")
def apis(tmp_path_factory):
    return {"function": badinput.FunctionAPI(),
            "module": badinput.ModuleAPI(str(tmp_path_factory.mktemp("badinput")))}


CASES = [(api, kind) for api in ("function", "module") for kind in badinput.KINDS
         if api[0] in kind[1]]


def test_there_are_at_least_30_kinds():
    assert len(badinput.KINDS) >= 30


@pytest.mark.parametrize("api,kind", CASES, ids=[f"{api}: {kind[0]}" for api, kind in CASES])
def test_bad_input(apis, api, kind):
    problem = badinput.check(apis[api], kind)
    assert problem is None, problem
