import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nasforge import Arch
from nasforge.core import InvalidArchError

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
values = st.one_of(scalars, st.lists(scalars, max_size=4))


@given(st.dictionaries(st.text(min_size=1, max_size=8), values, max_size=8))
def test_json_round_trip_is_exact(decisions):
    a = Arch("s", decisions)
    b = Arch.from_json(a.to_json())
    assert a == b and hash(a) == hash(b) and a.to_json() == b.to_json()


def test_equality_is_by_value_and_order_free():
    a = Arch("s", {"x": 1, "y": [1, 2]})
    b = Arch("s", {"y": (1, 2), "x": 1})
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != Arch("t", {"x": 1, "y": [1, 2]})
    assert a != Arch("s", {"x": 1.5, "y": [1, 2]})
    assert Arch("s", {"x": True}) != Arch("s", {"x": 1})


def test_immutable_and_replace():
    a = Arch("s", {"x": 1})
    with pytest.raises(AttributeError):
        a.foo = 2
    with pytest.raises(TypeError):
        a.decisions["x"] = 2
    b = a.replace(x=2)
    assert a["x"] == 1 and b["x"] == 2 and b.space == "s"


def test_numpy_scalars_become_python_values():
    a = Arch("s", {"x": np.int64(3), "y": np.float32(0.5)})
    assert type(a["x"]) is int and type(a["y"]) is float
    assert json.loads(a.to_json())["decisions"] == {"x": 3, "y": 0.5}


@pytest.mark.parametrize("bad", [{"x": object()}, {"x": float("nan")}, {1: 2}])
def test_bad_values_are_rejected(bad):
    with pytest.raises(InvalidArchError):
        Arch("s", bad)


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"space": "s"}', '{"space": "s", "decisions": 3}'])
def test_bad_json_is_rejected(text):
    with pytest.raises(InvalidArchError):
        Arch.from_json(text)


def test_pickles():
    import pickle

    a = Arch("s", {"x": [1, 2], "y": "z"})
    assert pickle.loads(pickle.dumps(a)) == a
