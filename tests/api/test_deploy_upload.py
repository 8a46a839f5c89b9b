"""Reading an uploaded process folder: plain files, or a zip that may be hostile."""

from __future__ import annotations

import io
import zipfile

import pytest
from werkzeug.datastructures import FileStorage

from api.deploy_upload import MAX_FOLDER_BYTES, MAX_ZIP_MEMBERS, folder_files
from engine.errors import DeployRejected


def _zip(entries: dict[str, bytes], name: str = "folder.zip") -> FileStorage:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry, content in entries.items():
            archive.writestr(entry, content)
    buffer.seek(0)
    return FileStorage(buffer, filename=name)


def _file(name: str, content: bytes = b"x") -> FileStorage:
    return FileStorage(io.BytesIO(content), filename=name)


def _problems(*uploads: FileStorage) -> list[str]:
    with pytest.raises(DeployRejected) as rejected:
        folder_files("incident", uploads)
    return [str(p) for p in rejected.value.problems]


def test_plain_files_are_taken_by_name() -> None:
    files = folder_files("incident", [_file("a.bpmn", b"<x/>"), _file("manifest.json", b"{}")])
    assert files == {"a.bpmn": b"<x/>", "manifest.json": b"{}"}


def test_plain_files_with_paths_other_types_or_twice_are_all_reported() -> None:
    problems = _problems(_file("../a.bpmn"), _file("notes.txt"), _file("b.dmn"), _file("b.dmn"))
    assert len(problems) == 3
    assert any("path" in p for p in problems)
    assert any("notes.txt" in p for p in problems)
    assert any("twice" in p for p in problems)


def test_a_zip_of_the_folder_gives_its_deployable_files_only() -> None:
    upload = _zip({"incident/a.bpmn": b"1", "incident/form.json": b"2",
                   "incident/README.md": b"3", "incident/sub/deep.bpmn": b"4",
                   "__MACOSX/incident/._a.bpmn": b"5", "incident/.hidden.json": b"6"})
    assert folder_files("incident", [upload]) == {"a.bpmn": b"1", "form.json": b"2"}


def test_a_zip_of_the_files_themselves_works_too() -> None:
    upload = _zip({"a.bpmn": b"1", "manifest.json": b"2"}, name="upload.bin")
    assert folder_files("incident", [upload]) == {"a.bpmn": b"1", "manifest.json": b"2"}


@pytest.mark.parametrize("entry", ["../a.bpmn", "/abs/a.bpmn", "x/../../a.bpmn", "c:\\a.bpmn"])
def test_a_zip_whose_paths_leave_the_folder_is_refused(entry: str) -> None:
    [problem] = _problems(_zip({entry: b"1", "ok.bpmn": b"2"}))
    assert "leaves the process folder" in problem


def test_a_zip_bomb_stops_at_the_size_cap() -> None:
    # A few kilobytes on the wire that would inflate past the cap.
    upload = _zip({"a.bpmn": b"\0" * (MAX_FOLDER_BYTES + 1)})
    assert len(upload.stream.getvalue()) < 100_000  # type: ignore[attr-defined]
    [problem] = _problems(upload)
    assert "more than 16 MB" in problem


def test_a_zip_with_too_many_members_is_refused() -> None:
    [problem] = _problems(_zip({f"f{i}.json": b"{}" for i in range(MAX_ZIP_MEMBERS + 1)}))
    assert "more than" in problem


def test_something_that_only_looks_like_a_zip_is_refused() -> None:
    [problem] = _problems(_file("folder.zip", b"PK\x03\x04 not really"))
    assert "not a readable zip" in problem
