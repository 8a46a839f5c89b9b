"""The files of a process folder, from an upload: several files, or one zip of the folder.

A zip is untrusted: member paths that leave the folder are refused, and the number of
members and the bytes actually decompressed are capped (a zip bomb stops at the cap, whatever
its headers claim). Only ``.bpmn``, ``.dmn`` and ``.json`` files at the top of the archive,
or inside its single top folder, are taken; anything else in a zip is ignored. Every problem
is reported at once, as a deploy problem naming the file.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import IO

from werkzeug.datastructures import FileStorage

from engine.deploy import DEPLOYABLE_SUFFIXES
from engine.errors import DeployRejected, Problem

__all__ = ["MAX_FOLDER_BYTES", "MAX_ZIP_MEMBERS", "folder_files"]

MAX_ZIP_MEMBERS = 200
MAX_FOLDER_BYTES = 16 * 1024 * 1024
_ZIP_MAGIC = b"PK\x03\x04"


class _Rejected(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems


def folder_files(key: str, uploads: Iterable[FileStorage]) -> dict[str, bytes]:
    """File name -> bytes of the uploaded folder; ``DeployRejected`` listing every problem."""
    uploads = list(uploads)
    try:
        if len(uploads) == 1 and _is_zip(uploads[0]):
            return _from_zip(uploads[0].stream)
        return _from_files(uploads)
    except _Rejected as rejected:
        raise DeployRejected(key, rejected.problems) from None


def _is_zip(upload: FileStorage) -> bool:
    if (upload.filename or "").lower().endswith(".zip"):
        return True
    head = upload.stream.read(len(_ZIP_MAGIC))
    upload.stream.seek(0)
    return head == _ZIP_MAGIC


def _from_files(uploads: list[FileStorage]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    problems: list[Problem] = []
    total = 0
    for upload in uploads:
        name = upload.filename or ""
        problem = _name_problem(name)
        if problem is None and name in files:
            problem = "uploaded twice"
        if problem is not None:
            problems.append(Problem(name or None, None, None, problem))
            continue
        content = upload.stream.read(MAX_FOLDER_BYTES - total + 1)
        total += len(content)
        if total > MAX_FOLDER_BYTES:
            raise _Rejected([_too_large()])
        files[name] = content
    if problems:
        raise _Rejected(problems)
    return files


def _name_problem(name: str) -> str | None:
    if not name:
        return "an uploaded file has no name"
    if "/" in name or "\\" in name or name.startswith("."):
        return "a file name must not contain a path"
    if not name.endswith(DEPLOYABLE_SUFFIXES):
        return "only .bpmn, .dmn and .json files can be deployed"
    return None


def _from_zip(stream: IO[bytes]) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(stream.read(MAX_FOLDER_BYTES + 1)))
    except (zipfile.BadZipFile, zlib.error, ValueError):
        problem = Problem(None, None, None, "the upload is not a readable zip file")
        raise _Rejected([problem]) from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_ZIP_MEMBERS:
            raise _Rejected([Problem(None, None, None,
                                     f"the zip holds more than {MAX_ZIP_MEMBERS} files")])
        unsafe = [Problem(m.filename, None, None, "path leaves the process folder")
                  for m in members if not _safe_path(m.filename)]
        if unsafe:
            raise _Rejected(unsafe)
        return _read_members(archive, _deployable(members))


def _safe_path(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(path.parts) and not (
        "\\" in name or path.is_absolute() or ".." in path.parts or ":" in path.parts[0]
    )


def _deployable(members: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
    """Top-level deployable members by name, or those of a single top folder."""
    paths = {m.filename: PurePosixPath(m.filename) for m in members}
    visible = [m for m in members if not _hidden(paths[m.filename])]
    tops = {paths[m.filename].parts[0] for m in visible}
    nested = all(len(paths[m.filename].parts) > 1 for m in visible)
    depth = 2 if nested and len(tops) == 1 else 1
    return {
        paths[m.filename].name: m for m in visible
        if len(paths[m.filename].parts) == depth
        and paths[m.filename].name.endswith(DEPLOYABLE_SUFFIXES)
    }


def _hidden(path: PurePosixPath) -> bool:
    # Archivers add these (macOS resource forks, dot files); they are never process files.
    return any(part.startswith(".") or part == "__MACOSX" for part in path.parts)


def _read_members(
    archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo]
) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    budget = MAX_FOLDER_BYTES
    for name, member in sorted(members.items()):
        try:
            with archive.open(member) as handle:
                content = handle.read(budget + 1)
        except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, EOFError):
            problem = Problem(member.filename, None, None,
                              "cannot be read (damaged, encrypted or unsupported)")
            raise _Rejected([problem]) from None
        budget -= len(content)
        if budget < 0:
            raise _Rejected([_too_large()])
        files[name] = content
    return files


def _too_large() -> Problem:
    return Problem(None, None, None,
                   f"the files add up to more than {MAX_FOLDER_BYTES // (1024 * 1024)} MB")
