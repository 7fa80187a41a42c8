"""Recognising LayerLoom's own module classes in a standalone Python export.

The Python export copies the source of LayerLoom's small module classes (a
recurrent layer that returns its last step, ``SelfAttention``, a positional
encoding, ...) into the file it writes, so that the file needs nothing but torch.
Imported back, those copies are new classes: they are not the keys of
:data:`~layerloom.backend.importers.torch_modules.MODULE_RULES`, and tracing
through them fails or gives a decomposition LayerLoom cannot map.

A class *is* LayerLoom's own when it has the same name, the same bases and the
same code: every function its body defines (and every module-level function
those call, such as ``last_step``) compiles to the same bytecode, constants and
names. Line numbers and file names are left out, so a copy in any file matches;
a copy that anyone edited does not, and is traced through like user code.
"""

from __future__ import annotations

import types
from collections.abc import Iterable

Fingerprint = tuple


def twin_of(cls: type, own: Iterable[type]) -> type | None:
    """The class of ``own`` that ``cls`` is an unchanged copy of, or ``None``."""
    for candidate in own:
        if candidate is cls:
            return candidate
        if candidate.__name__ == cls.__name__ and _same_class(candidate, cls):
            return candidate
    return None


def _same_class(a: type, b: type) -> bool:
    if len(a.__bases__) != len(b.__bases__):
        return False
    for base_a, base_b in zip(a.__bases__, b.__bases__, strict=True):
        if base_a is not base_b and not (base_a.__name__ == base_b.__name__ and _same_class(base_a, base_b)):
            return False
    try:
        return class_fingerprint(a) == class_fingerprint(b)
    except TypeError:  # an unhashable constant: not a class the export writes
        return False


def class_fingerprint(cls: type) -> Fingerprint:
    """The code of every function ``cls``'s body defines, by name."""
    functions = []
    for name, value in sorted(vars(cls).items()):
        fn = _function(value)
        if fn is not None:
            functions.append((name, function_fingerprint(fn)))
    return tuple(functions)


def function_fingerprint(fn: types.FunctionType, seen: frozenset = frozenset()) -> Fingerprint:
    """The bytecode, constants and names of ``fn`` and of the module-level
    functions it calls (resolved in its globals), without line numbers."""
    code = fn.__code__
    called = []
    for name in code.co_names:
        value = fn.__globals__.get(name)
        if isinstance(value, types.FunctionType) and name not in seen:
            called.append((name, function_fingerprint(value, seen | {name, fn.__name__})))
    defaults = tuple(repr(d) for d in (fn.__defaults__ or ()))
    return (_code(code), defaults, tuple(called))


def _code(code: types.CodeType) -> Fingerprint:
    consts = tuple(_code(c) if isinstance(c, types.CodeType) else (type(c).__name__, repr(c))
                   for c in code.co_consts)
    return (code.co_code, consts, code.co_names, code.co_varnames, code.co_argcount,
            code.co_kwonlyargcount, code.co_flags)


def _function(value) -> types.FunctionType | None:
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        value = value.fget
    return value if isinstance(value, types.FunctionType) else None
