"""Where dataset files live and how a plugin fetches them: one place for every dataset.

A dataset plugin asks :func:`data_root` for its folder (``--data-dir``, else
``$MIA_DATA_DIR``, else the per-user cache), :func:`fetch` for a file (downloaded to a
temporary name, checked against its SHA-256, then moved into place, so a broken download
never looks like data) and :func:`extract_tar` for an archive (members that would land outside
the folder are refused). Failures are one line that says where to put the file by hand.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tarfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from mia_core.errors import DataFileError, MiaError
from mia_core.progress import QUIET, Progress

TIMEOUT_S = 60


def data_root(explicit: Path | None) -> Path:
    """--data-dir, else $MIA_DATA_DIR, else the per-user cache folder."""
    if explicit is not None:
        return Path(explicit).expanduser()
    env = os.environ.get("MIA_DATA_DIR")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "mia-core" / "data"


def digest_of(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of ``path``'s bytes."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_OFFLINE: list[bool] = [False]  # within offline(): allow_download refuses every download


@contextlib.contextmanager
def offline() -> Iterator[None]:
    """Within it, :func:`allow_download` (so :func:`fetch` and every plugin's download)
    raises :class:`NotDownloaded` instead (a description that loads data must not start a
    download)."""
    _OFFLINE.append(True)
    try:
        yield
    finally:
        _OFFLINE.pop()


class NotDownloaded(MiaError):
    """A file that would have been downloaded, within :func:`offline`."""


def allow_download(what: str, dest: Path) -> None:
    """Call before downloading ``what`` to ``dest``: raises :class:`NotDownloaded` within
    :func:`offline`, so every download of a plugin's honours it."""
    if _OFFLINE[-1]:
        raise NotDownloaded(f"{what} is not downloaded yet (the first run downloads it to "
                            f"{dest})")


def fetch(url: str, dest: Path, sha256: str | None = None, progress: Progress = QUIET,
          what: str = "", md5: str | None = None) -> Path:
    """``dest``, downloaded from ``url`` unless it is there already, checked against its
    SHA-256 (or the MD5 a publisher gives, e.g. CIFAR's)."""
    if dest.exists():
        check_digest(dest, sha256, what, md5)
        return dest
    allow_download(what or dest.name, dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    progress.message(f"downloading {what or dest.name} from {url} ...")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, \
                partial.open("wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
    except (OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        raise MiaError(f"cannot download {what or dest.name} from {url} "
                       f"({type(exc).__name__}: {str(exc).strip()[:120] or 'no details'}); "
                       f"download it by hand and put it at {dest}") from None
    try:
        check_digest(partial, sha256, what, md5)
    except MiaError:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(dest)
    return dest


def check_digest(path: Path, sha256: str | None, what: str = "",
                 md5: str | None = None) -> None:
    """Raise when ``path`` does not have digest ``sha256`` / ``md5`` (``None``: unchecked)."""
    for name, expected in (("sha256", sha256), ("md5", md5)):
        if expected is not None and digest_of(path, name) != expected:
            raise DataFileError(f"{path} is not the expected {what or 'file'} "
                                f"({name.upper()} differs); delete it and download it again")


def extract_tar(archive: Path, folder: Path) -> None:
    """Unpack ``archive`` into ``folder``, refusing members outside it and links."""
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                target = (root / member.name).resolve()
                if root not in (target, *target.parents) or member.issym() or member.islnk():
                    raise DataFileError(f"{archive} holds {member.name!r}, which would "
                                        "unpack outside its folder or as a link; it is not a "
                                        "dataset archive")
            tar.extractall(folder, members=[m for m in members if m.isfile() or m.isdir()])
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataFileError(f"{archive} is not a readable tar archive ({exc}); delete it "
                            "and download it again") from None
