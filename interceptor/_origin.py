"""Whose words an exception's message is: the application's, or a library's.

A 4xx body may show an exception's message only when the application wrote
it for the client. That is known from where the exception comes from:

- a class that the standard library or an installed package defines
  (``sqlite3.IntegrityError``, ``jsonschema.ValidationError``) carries that
  library's words: its SQL, its repr of the input, its URL;
- a built-in class (``ValueError``, ``KeyError``, ``LookupError``) carries the
  words of whoever raised it: the application's own ``raise`` statement, or
  code the application called, in a library (``urllib`` refusing a URL) or in
  the interpreter itself (``d[key]``, ``int(text)``, ``open(path)``,
  ``var.get()``, whose messages echo a key, an input, a path or a repr);
- a class the application defines carries the application's words.

Library code is what lives under the interpreter's standard library and
site-packages directories (and this package). An application installed into
site-packages counts as a library: its exceptions then show no message, the
safe way to be wrong; an `ApiError` or a `Problem` with a ``detail`` says
what the client should read wherever the code lives. A library vendored
beside the application (``pip install --target``, a zipapp) counts as the
application: nothing tells the two apart there.
"""

from __future__ import annotations

import dis
import enum
import os
import site
import sys
import sysconfig
from pathlib import Path
from types import CodeType

from interceptor._http import module_name
from interceptor._typecache import remember

__all__ = ["ClassOrigin", "class_origin", "is_library_file", "raised_by_application"]


class ClassOrigin(enum.Enum):
    """Who defines an exception class."""

    APPLICATION = "application"
    LIBRARY = "library"
    BUILTIN = "builtin"  # whose words its message is depends on who raised it


def _library_dirs() -> tuple[str, ...]:
    found = {
        sysconfig.get_paths().get(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")
    }
    try:
        found.update(site.getsitepackages())
        found.add(site.getusersitepackages())
    except AttributeError:  # pragma: no cover - an old virtualenv's site module lacks them
        pass
    found.add(str(Path(__file__).resolve().parent))  # this package
    return tuple(sorted({_normal(d) + os.sep for d in found if d}))


def _normal(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


_LIBRARY_DIRS = _library_dirs()
_RAISE = dis.opmap["RAISE_VARARGS"]
# Bounded like every per-type cache: by file name, by class, by raising instruction.
_LIBRARY_FILES: dict[str, bool] = {}
_CLASS_ORIGINS: dict[type, ClassOrigin] = {}
_RAISE_SITES: dict[tuple[CodeType, int], bool] = {}


def is_library_file(filename: str) -> bool:
    """Whether the source file ``filename`` belongs to the standard library, an
    installed package or this package (frozen modules included)."""
    known = _LIBRARY_FILES.get(filename)
    if known is None:
        if filename.startswith("<"):  # "<frozen os>"; "<string>" is the application's exec()
            known = filename.startswith("<frozen ")
        else:
            known = _normal(filename).startswith(_LIBRARY_DIRS)
        remember(_LIBRARY_FILES, filename, known, "library_files")
    return known


def class_origin(tp: type) -> ClassOrigin:
    """Who defines the exception class ``tp``; a class whose module cannot be
    found (made by ``type()`` with a made-up module) is the application's."""
    origin = _CLASS_ORIGINS.get(tp)
    if origin is None:
        origin = remember(_CLASS_ORIGINS, tp, _origin_of(module_name(tp)), "class_origins")
    return origin


def _origin_of(module: str) -> ClassOrigin:
    if module == "builtins":
        return ClassOrigin.BUILTIN
    if module in sys.builtin_module_names:
        return ClassOrigin.LIBRARY
    filename = getattr(sys.modules.get(module), "__file__", None)
    if isinstance(filename, str) and is_library_file(filename):
        return ClassOrigin.LIBRARY
    return ClassOrigin.APPLICATION


def raised_by_application(exc: BaseException) -> bool:
    """Whether a ``raise`` statement in the application's code raised ``exc``.

    The innermost frame of its traceback tells: library code, or an
    instruction other than ``raise`` (the interpreter raising on the
    application's behalf), means the message is not the application's. An
    exception never raised (no traceback) is taken as the application's.
    """
    tb = exc.__traceback__
    if tb is None:
        return True
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    if is_library_file(code.co_filename):
        return False
    site_key = (code, tb.tb_lasti)
    by_raise = _RAISE_SITES.get(site_key)
    if by_raise is None:
        by_raise = remember(_RAISE_SITES, site_key, _is_raise(code, tb.tb_lasti), "raise_sites")
    return by_raise


def _is_raise(code: CodeType, offset: int) -> bool:
    raw = code.co_code
    # Jinja2 rewrites a template's traceback so that its innermost frame is a
    # ``raise __jinja_exception__`` in the template's file: a re-raise of what
    # the template's expression raised, not a raise statement of the application.
    return (
        0 <= offset < len(raw)
        and raw[offset] == _RAISE
        and _JINJA_RERAISE not in code.co_names
    )


_JINJA_RERAISE = "__jinja_exception__"
