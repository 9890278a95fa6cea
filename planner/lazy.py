"""Lazy package exports (PEP 562): a public name's module is imported on its first use.

``python -m planner --help`` and ``check`` then start without pandas', SQLAlchemy's and the
solvers' import time, and a notebook pays only for what it uses.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(
    package: str, exports: dict[str, str], namespace: dict[str, object]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """Return the ``__getattr__`` and ``__dir__`` of ``package`` for ``{name: module}``.

    A loaded value is cached in ``namespace`` (the package's ``globals()``), so the next
    access is an ordinary attribute lookup.
    """

    def module_getattr(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def module_dir() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return module_getattr, module_dir
