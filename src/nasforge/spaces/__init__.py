"""Search spaces: what architectures can exist, and how to build them.

>>> from nasforge import spaces
>>> space = spaces.get("macro-cnn")
>>> spaces.names()  # doctest: +ELLIPSIS
[...'macro-cnn'...]
"""

from __future__ import annotations

import inspect
from typing import Any

from ..core import Decision, DecisionSpace, SearchSpace, SpaceDefinitionError, UserInputError
from ..core.space import Box, CellGraph, CellGraphs, Chain, Drawing
from ._common import dag_edges, live_edges, scaled, spatial_dims
from ._define_by_run import HP, DefineByRunSpace, import_from_file
from ._from_file import FILE_SUFFIXES, load_space_file
from ._registry import REGISTRY, register

# Each space family registers itself beside its class (@register("name")) when its module is
# imported. The modules are listed here rather than discovered: explicit imports are simpler,
# register in a fixed order, fail loudly when a module is broken, and keep the import graph
# visible to readers and to tests/test_layers.py. A new family is one file plus one line here.
from ._darts import DartsSpace
from ._hierarchical import HierarchicalSpace
from ._macro_cnn import MacroCNNSpace
from ._mlp import MLPSpace
from ._mobilenet import ElasticMobileNet, MobileNetSpace
from ._nasbench_macro import NASBenchMacroSpace
from ._nb201 import NB201Space
from ._recipe import RecipeSpace
from ._transformer import TransformerSpace
from . import _darts as darts
from . import _nasbench_macro as nasbench_macro
from . import _nb201 as nb201


def space(name: str):
    """Decorator: register a define-by-run function ``fn(hp) -> nn.Module`` as a space."""

    def decorate(fn):
        register(name, summary=(fn.__doc__ or "define-by-run space").strip().splitlines()[0])(
            lambda: DefineByRunSpace(fn, name=name))
        return fn

    return decorate


def load_from_file(spec: str) -> SearchSpace:
    """Load ``path/to/file.py:function`` (a define-by-run function or a SearchSpace)."""
    obj = import_from_file(spec)
    if isinstance(obj, DefineByRunSpace):
        obj.source = spec  # its helper and workers load the function from the same file
    if isinstance(obj, SearchSpace):
        obj.name = spec
        return obj
    return DefineByRunSpace(obj, name=spec, source=spec)


def options(name: str) -> dict[str, Any]:
    """The options of a registered space and their defaults."""
    return {k: p.default for k, p in inspect.signature(REGISTRY.factory(name)).parameters.items()}


def get(name: str, **config: Any) -> SearchSpace:
    """A space by registered name (or ``file.py:function``), built with ``config``."""
    if ".py:" in name or name.endswith(FILE_SUFFIXES):
        if config:
            raise UserInputError(f"a space loaded from a file takes no options; got {sorted(config)}")
        return load_from_file(name) if ".py:" in name else load_space_file(name)
    factory, known = REGISTRY.factory(name), options(name)
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise UserInputError(f"unknown option(s) {unknown} for space {name!r}; known: "
                             f"{', '.join(f'{k} (default {v!r})' for k, v in known.items()) or 'none'}")
    try:
        return factory(**config)
    except TypeError as exc:
        raise UserInputError(f"bad option for space {name!r}: {exc}") from None


def names(pattern: str = "*") -> list[str]:
    return REGISTRY.names(pattern)


__all__ = ["Box", "CellGraph", "CellGraphs", "Chain", "DartsSpace", "Decision", "DecisionSpace", "DefineByRunSpace",
           "Drawing", "ElasticMobileNet", "HP", "HierarchicalSpace", "MLPSpace", "MacroCNNSpace", "MobileNetSpace",
           "NASBenchMacroSpace", "NB201Space", "REGISTRY", "RecipeSpace", "SearchSpace", "TransformerSpace", "dag_edges", "darts",
           "get", "live_edges", "load_from_file", "load_space_file", "names", "nasbench_macro", "nb201", "options",
           "register", "scaled", "space", "spatial_dims"]
