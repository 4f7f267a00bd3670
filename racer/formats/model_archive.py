"""The physical car's model archive: a ``.tar.gz`` holding ``model.pb`` and ``model_metadata.json``.

The DeepRacer car loads a model as one gzipped tar (SPEC 11) with the frozen graph and its
metadata, at the archive's root or in one folder (``agent/model.pb`` in a console download).
`unpack_model_archive` copies just those two regular files into a fresh temporary folder, under
fixed names: no member's own path, link or mode is ever used, so an archive cannot write outside
that folder. Members larger than `MAX_MEMBER_BYTES` are refused before they are read.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import tempfile
import time
import zlib
from pathlib import Path, PurePosixPath

from racer.errors import ExportError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
"""File names that `unpack_model_archive` reads."""
MAX_MEMBER_BYTES = 512 * 1024 * 1024
"""The largest graph or metadata file read from an archive [bytes]: DeepRacer's networks are a
few MB; this bounds what a broken or hostile archive can make racer write."""
MAX_MEMBERS = 1000
"""Archive members listed before racer gives up: the car's archive holds a handful."""
_WANTED = ("model.pb", "model_metadata.json")


def is_model_archive(path: Path) -> bool:
    """True when ``path`` names a tar archive (by its suffix)."""
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def unpack_model_archive(path: Path) -> tempfile.TemporaryDirectory[str]:
    """Copy an archive's ``model.pb`` and ``model_metadata.json`` into a temporary folder.

    Returns:
        The folder (delete it with ``.cleanup()``, or let it go out of scope), holding exactly
        ``model.pb`` and ``model_metadata.json``.

    Raises:
        ExportError: the file is missing or not a tar archive, lacks either file, holds more than
            one of them, or one is not a regular file or is too large.
    """
    if not path.is_file():
        raise ExportError(f"No DeepRacer model archive at {path}: the file does not exist.")
    try:
        archive = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ExportError(
            f"{path} is not a readable tar archive ({exc}). The car's model archive is a "
            ".tar.gz holding model.pb and model_metadata.json; the file may be truncated."
        ) from None
    folder = tempfile.TemporaryDirectory(prefix="racer-deepracer-model-")
    try:
        with archive:
            found = _wanted_members(archive, path)
            for name, member in found.items():
                source = archive.extractfile(member)
                assert source is not None  # a regular file always has its data
                with source, open(Path(folder.name) / name, "wb") as target:
                    target.write(source.read(MAX_MEMBER_BYTES))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        folder.cleanup()
        raise ExportError(f"{path} is a damaged tar archive ({exc}); the file may be "
                          "truncated.") from None  # fmt: skip
    except BaseException:
        folder.cleanup()
        raise
    return folder


def read_archive_member(path: Path, name: str) -> bytes:
    """The bytes of the archive's ``model.pb`` or ``model_metadata.json`` (``name``).

    The archive is checked as `unpack_model_archive` checks it; nothing is written.

    Raises:
        ExportError: as `unpack_model_archive`.
    """
    if name not in _WANTED:
        raise ValueError(f"an archive member is one of {_WANTED}, not {name!r}")
    if not path.is_file():
        raise ExportError(f"No DeepRacer model archive at {path}: the file does not exist.")
    try:
        with tarfile.open(path, "r:*") as archive:
            source = archive.extractfile(_wanted_members(archive, path)[name])
            assert source is not None  # a regular file always has its data
            with source:
                return source.read(MAX_MEMBER_BYTES)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ExportError(f"{path} is not a readable tar archive ({exc}); the file may be "
                          "truncated.") from None  # fmt: skip


def _wanted_members(archive: tarfile.TarFile, path: Path) -> dict[str, tarfile.TarInfo]:
    """The archive's ``model.pb`` and ``model_metadata.json`` members (module docstring)."""
    found: dict[str, tarfile.TarInfo] = {}
    seen: list[str] = []
    while (member := archive.next()) is not None:
        seen.append(member.name)
        if len(seen) > MAX_MEMBERS:
            raise ExportError(f"{path} holds more than {MAX_MEMBERS} files; the car's model "
                              "archive holds model.pb and model_metadata.json.")  # fmt: skip
        parts = PurePosixPath(member.name).parts
        if not parts or parts[-1] not in _WANTED or len(parts) > 2:
            continue
        name = parts[-1]
        if name in found:
            raise ExportError(f"{path} holds more than one {name} ({found[name].name}, "
                              f"{member.name}); pack one model per archive.")  # fmt: skip
        if not member.isfile():
            raise ExportError(f"{path}: {member.name} is not a regular file (a link or "
                              "folder); pack the file itself.")  # fmt: skip
        if member.size > MAX_MEMBER_BYTES:
            raise ExportError(f"{path}: {member.name} is {member.size:,} bytes, more than the "
                              f"{MAX_MEMBER_BYTES:,} a DeepRacer model needs.")  # fmt: skip
        found[name] = member
    missing = [name for name in _WANTED if name not in found]
    if missing:
        have = ", ".join(seen[:8]) or "nothing"
        raise ExportError(f"{path} has no {' or '.join(missing)} at its root or in one folder "
                          f"(it holds: {have}). The car's archive needs both.")  # fmt: skip
    return found


def pack_model_archive(members: dict[str, bytes]) -> bytes:
    """The car's archive: a gzipped tar of ``members`` (name -> bytes) at its root, mode 0644.

    What `unpack_model_archive` reads back (``model.pb`` and ``model_metadata.json``).
    """
    buffer = io.BytesIO()
    now = int(time.time())
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=now) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), 0o644, now
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
