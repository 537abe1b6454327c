"""nasforge: neural architecture search that pays for itself.

Heavy modules (torch, data loaders) load on first use, so ``import nasforge``
and ``nasforge --help`` stay fast.
"""

__version__ = "0.1.0"

import importlib

from .core import Arch, NasforgeError

_LAZY = {  # name -> (module, attribute; None for the module itself)
    "HP": ("spaces", "HP"), "space": ("spaces", "space"),
    "search": ("api", "search"), "open_study": ("api", "open_study"), "SearchSpec": ("api", "SearchSpec"),
    "load_model": ("export", "load_model"),
    "auto": ("auto", None),  # a package that runs nasforge.auto.auto when called (see auto/__init__.py)
}


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        loaded = importlib.import_module(f".{module}", __name__)
        return loaded if attr is None else getattr(loaded, attr)
    raise AttributeError(f"module 'nasforge' has no attribute {name!r}")


__all__ = ["Arch", "HP", "auto", "NasforgeError", "SearchSpec", "__version__", "load_model", "open_study", "search",
           "space"]
