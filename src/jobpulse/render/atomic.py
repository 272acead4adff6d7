"""Replace a directory whole, so that a kill at any moment leaves the old one or the new one, never neither.

The new tree is staged in a sibling directory (``.<name>.tmp-*``) and then swapped in:

* with ``renameat2(RENAME_EXCHANGE)`` (Linux 3.15+, glibc 2.28+, on ext4, xfs, btrfs, tmpfs and most local file
  systems), called through :mod:`ctypes`: the staged directory and the output trade names in one atomic step,
  and the old tree, now under the staging name, is deleted;
* elsewhere (macOS, a file system without the exchange) by a symlink flip: the output is a symlink to a
  versioned sibling (``.<name>.build-*``), and a new symlink is renamed over it in one atomic step. Turning an
  existing real directory into that symlink the first time cannot be atomic: the directory is renamed to
  ``.<name>.old-*`` and the symlink made — a kill in between is repaired by the next run, which renames the
  old tree back before doing anything else.

Every run holds an exclusive ``flock`` on the parent directory (concurrent runs take turns) and first removes the
strays that killed runs left: ``.<name>.tmp-*``, ``.<name>.old-*``, ``.<name>.lnk-*`` and the ``.<name>.build-*``
the output does not point at.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["absolute", "exchange", "replace_dir", "strays"]

RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_STRAY_KINDS = ("tmp", "old", "lnk", "build")


def _load_renameat2() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a C library without the wrapper (glibc before 2.28)
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_renameat2 = _load_renameat2()


def exchange(a: Path, b: Path) -> bool:
    """Swap the names ``a`` and ``b`` in one atomic step; False (nothing changed) where that is not possible."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV):
        return False  # this kernel or file system has no exchange
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def absolute(path: str | Path) -> Path:
    """``path`` made absolute with its parent resolved — the output itself may be a symlink, which must stay one."""
    full = Path(os.path.abspath(path))  # noqa: PTH100 - Path.resolve() would follow the output's symlink
    return full.parent.resolve() / full.name


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # no flock (Windows): runs are not serialised
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock; a killed process releases it too


def strays(out: Path) -> list[Path]:
    """What killed runs left beside ``out`` (not the versioned directory it points at)."""
    current = str(out.readlink()) if out.is_symlink() else None
    found = []
    for kind in _STRAY_KINDS:
        for path in out.parent.glob(f".{out.name}.{kind}-*"):
            if not (kind == "build" and path.name == current):
                found.append(path)
    return sorted(found)


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def _recover_and_clean(out: Path) -> None:
    """Undo a symlink migration a kill interrupted (no output, an ``.old-*`` tree), then remove the strays."""
    if not os.path.lexists(out) or (out.is_symlink() and not out.exists()):
        olds = sorted(out.parent.glob(f".{out.name}.old-*"), key=lambda p: p.stat().st_mtime)
        if olds:
            if os.path.lexists(out):
                out.unlink()  # a dangling symlink
            olds[-1].rename(out)
    for path in strays(out):
        _remove(path)


def replace_dir(out: Path, write: Callable[[Path], None]) -> None:
    """Stage a new tree with ``write(staging_dir)`` and swap it in for ``out`` (absent, a directory, or a symlink
    a previous run made), surviving a kill at any point; an exception from ``write`` leaves ``out`` untouched."""
    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    with _locked(parent):
        _recover_and_clean(out)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
        try:
            write(staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        try:
            if out.is_symlink():
                _flip(staging, out)
            elif not out.exists():
                staging.rename(out)
            elif exchange(staging, out):
                shutil.rmtree(staging, ignore_errors=True)  # the old tree, under the staging name now
            else:
                _flip(staging, out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)  # still the new tree: nothing was swapped
            raise


def _flip(staging: Path, out: Path) -> None:
    """The symlink flip: ``out`` points at a versioned copy of ``staging``."""
    parent = out.parent
    version = Path(tempfile.mkdtemp(prefix=f".{out.name}.build-", dir=parent))
    version.rmdir()
    staging.rename(version)
    link = Path(tempfile.mkdtemp(prefix=f".{out.name}.lnk-", dir=parent))
    link.rmdir()
    link.symlink_to(version.name)
    old_target = parent / out.readlink() if out.is_symlink() else None
    if out.is_symlink() or not out.exists():
        link.replace(out)  # one atomic step
    else:  # a real directory becomes the symlink: the one step that is not atomic (repaired by the next run)
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
        old.rmdir()
        out.rename(old)
        link.replace(out)
        shutil.rmtree(old, ignore_errors=True)
    if old_target is not None and old_target.name.startswith(f".{out.name}.build-"):
        shutil.rmtree(old_target, ignore_errors=True)
