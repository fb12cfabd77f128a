"""A response model named in the config (a dotted path) -> the class, or a clear ConfigError."""

from __future__ import annotations

import importlib

from pydantic import BaseModel

from evalsweep.errors import ConfigError


def import_model(path: str, where: str = "structured.response_model") -> type[BaseModel]:
    module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{where}={path}: cannot import module '{module_name}' ({exc}); "
                          f"give the dotted path of a pydantic model on the Python path, "
                          f"e.g. evalsweep.structured.models.Answer") from None
    obj = getattr(module, attr, None)
    if not (isinstance(obj, type) and issubclass(obj, BaseModel)):
        found = "nothing" if obj is None else type(obj).__name__
        raise ConfigError(f"{where}={path}: '{attr}' in {module_name} is {found}, not a pydantic BaseModel "
                          f"subclass; point it at a class such as evalsweep.structured.models.Answer")
    return obj
