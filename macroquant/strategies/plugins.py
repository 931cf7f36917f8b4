"""Custom strategies: ``class: package.module:ClassName`` in a strategy YAML file.

The module is imported by its dotted name when it is importable (an installed package, or a
module on ``PYTHONPATH``). Otherwise it is looked up as a file next to the YAML file or in a
``plugins/`` folder beside the YAML's folder — so ``include/examples/custom_momentum.yaml``
can name ``my_momentum:TimeSeriesMomentumPlugin`` and find ``include/plugins/my_momentum.py``
without any installation. The class must subclass :class:`~macroquant.strategies.base.Strategy`
and declare a ``parameters_model`` deriving from
:class:`~macroquant.strategies.base.StrategyParameters`.

Every failure (no such module or class, the module raises on import, the class is not a
strategy) is a :class:`~macroquant.errors.ConfigError` naming the YAML file, the field
``class`` and the class path.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

from macroquant.errors import ConfigError
from macroquant.strategies.base import Strategy, StrategyParameters

PLUGIN_FOLDER = "plugins"


def plugin_search_dirs(yaml_path: Path) -> list[Path]:
    """Folders searched for a module file that is not importable by name."""
    folder = yaml_path.resolve().parent
    return [folder, folder / PLUGIN_FOLDER, folder.parent / PLUGIN_FOLDER]


def _module_file(module_name: str, yaml_path: Path) -> Path | None:
    relative = Path(*module_name.split("."))
    for folder in plugin_search_dirs(yaml_path):
        for candidate in (folder / relative.with_suffix(".py"), folder / relative / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _import_from_file(module_name: str, file: Path) -> ModuleType:
    """Import ``file`` once, under a name unique to its location."""
    digest = hashlib.sha256(str(file.resolve()).encode()).hexdigest()[:12]
    unique = f"macroquant_plugin_{digest}_{module_name.replace('.', '_')}"
    if unique in sys.modules:
        return sys.modules[unique]
    spec = importlib.util.spec_from_file_location(unique, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[unique]
        raise
    return module


def _import_module(module_name: str, yaml_path: Path) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only a missing *top* module means "not importable by name"; a module that exists
        # but imports something missing is the plugin's own error.
        if exc.name is None or not module_name.startswith(exc.name):
            raise
    file = _module_file(module_name, yaml_path)
    if file is None:
        searched = ", ".join(str(d) for d in plugin_search_dirs(yaml_path))
        raise ModuleNotFoundError(f"no module named '{module_name}' (not importable, and no "
                                  f"file for it in {searched})")
    return _import_from_file(module_name, file)


def load_custom_class(yaml_path: Path, class_path: str) -> type[Strategy]:
    """The strategy class named by ``package.module:ClassName``, validated."""
    module_name, _, class_name = class_path.partition(":")

    def error(message: str) -> ConfigError:
        return ConfigError(str(yaml_path), "class", f"custom strategy '{class_path}': {message}")

    try:
        module = _import_module(module_name, yaml_path)
    except Exception as exc:  # the plugin's code is the user's: report whatever it raised
        raise error(f"importing module '{module_name}' failed: {type(exc).__name__}: {exc}") \
            from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        raise error(f"module '{module_name}' has no attribute '{class_name}'")
    if not (inspect.isclass(cls) and issubclass(cls, Strategy)):
        raise error("is not a subclass of macroquant.strategies.base.Strategy")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        raise error(f"is abstract (does not implement {missing})")
    model = getattr(cls, "parameters_model", None)
    if not (inspect.isclass(model) and issubclass(model, StrategyParameters)):
        raise error("has no 'parameters_model' deriving from StrategyParameters")
    return cls
