"""A small file system for fault tests: a tmpfs mounted by the test (root only), and a ballast
file that fills it at a chosen moment, so that the next write really meets ENOSPC."""

import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

#: the tmpfs size: a few runs' results fit, so the tests choose when the disk fills
DISK_SIZE = "8m"


def mount_tmpfs(folder: Path, options: str = f"size={DISK_SIZE}") -> str | None:
    """Mount a tmpfs at ``folder``; None on success, else why not (the test skips with it)."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    folder.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True,
                       text=True)
    return None if r.returncode == 0 else f"cannot mount a tmpfs here: {r.stderr.strip()}"


def unmount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], check=False)


@contextmanager
def tmpfs(folder: Path, options: str = f"size={DISK_SIZE}"):
    """The folder with a tmpfs mounted on it (pytest skip when that is impossible)."""
    import pytest

    why = mount_tmpfs(folder, options)
    if why:
        pytest.skip(why)
    try:
        yield folder
    finally:
        unmount(folder)


def fill(folder: Path) -> Path:
    """Write ``folder/ballast`` until the file system refuses (ENOSPC); return its path."""
    path = Path(folder) / "ballast"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9):
            block = b"\0" * size
            try:
                while True:
                    os.write(fd, block)
            except OSError as err:
                if err.errno != 28:
                    raise
    finally:
        os.close(fd)
    return path


def free(folder: Path) -> None:
    """Remove the ballast: the disk has space again."""
    (Path(folder) / "ballast").unlink(missing_ok=True)
