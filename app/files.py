"""Files that hold people's data (uploads with ID numbers in clear, visit photos, the SQLite
database, the keys) are readable by the server's own user only: folders 0700, files 0600,
whatever the process's umask."""
import os
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(path):
    """Make the folder (and missing parents) if needed, and close it to other users; the path."""
    path = Path(path)
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):  # each folder made here is private too, not only the last
        folder.mkdir(mode=FOLDER_MODE, exist_ok=True)
        folder.chmod(FOLDER_MODE)  # mkdir's mode passes through the umask
    if path.stat().st_mode & 0o777 != FOLDER_MODE:
        path.chmod(FOLDER_MODE)
    return path


def private_open(path, mode="wb"):
    """open() for writing a file that is 0600 from its first byte (no moment at the umask's 0644)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    descriptor = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(descriptor, FILE_MODE)  # an older file kept the mode it was made with
        return os.fdopen(descriptor, mode, **({} if "b" in mode else {"encoding": "utf-8"}))
    except BaseException:
        os.close(descriptor)
        raise


def make_private(path):
    """Close an existing file (or create an empty one) to other users."""
    with private_open(path, "ab"):
        pass
