"""scan(): stable order, laziness, and one record (never an exception) per odd entry."""

from __future__ import annotations

import os

from tessera.batch.scan import Kind, scan


def touch(path, data=b"x"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def records(root, **kw):
    return [(os.path.relpath(f.path, root), f.kind, f.reason) for f in scan([root], **kw)]


def test_order_is_stable_depth_first_and_types_are_sorted_out(tmp_path):
    for rel in ["b.png", "a.JPG", "sub/c.webp", "notes.txt", ".hidden.jpg", "z.tiff"]:
        touch(tmp_path / rel)
    found = records(tmp_path, recursive=True)
    assert [(r, k) for r, k, _ in found] == [
        (".hidden.jpg", Kind.SKIPPED), ("a.JPG", Kind.IMAGE), ("b.png", Kind.IMAGE),
        ("notes.txt", Kind.SKIPPED), ("sub/c.webp", Kind.IMAGE), ("z.tiff", Kind.IMAGE)]
    assert dict((r, why) for r, _, why in found)["notes.txt"] == "not a supported image type (.txt)"
    flat = records(tmp_path)
    assert ("sub", Kind.SKIPPED, "a folder (subfolders are scanned only when recursive)") in flat
    assert all(not r.startswith("sub/") for r, _, _ in flat)


def test_image_records_carry_size_and_mtime(tmp_path):
    touch(tmp_path / "a.png", b"12345")
    (found,) = scan([tmp_path])
    st = os.stat(tmp_path / "a.png")
    assert (found.size, found.mtime_ns) == (5, st.st_mtime_ns)


def test_scan_is_lazy(tmp_path):
    touch(tmp_path / "a" / "1.png")
    (tmp_path / "b").mkdir()
    walk = scan([tmp_path], recursive=True)
    assert next(walk).path.endswith("1.png")
    touch(tmp_path / "b" / "2.png")    # found, so b was listed only when the walk reached it
    assert [f.path for f in walk] == [str(tmp_path / "b" / "2.png")]


def test_a_folder_named_like_a_photo_is_an_error_row(tmp_path):
    (tmp_path / "x.jpg").mkdir()
    assert records(tmp_path) == [("x.jpg", Kind.ERROR, "a folder, not an image file")]


def test_symlink_loops_and_broken_links_are_records(tmp_path):
    touch(tmp_path / "photos" / "a.png")
    os.symlink("..", tmp_path / "photos" / "up")           # a loop through the parent
    os.symlink("self.jpg", tmp_path / "photos" / "self.jpg")  # a link to itself
    os.symlink("missing.png", tmp_path / "photos" / "gone.png")
    found = records(tmp_path, recursive=True)
    assert found == [
        ("photos/a.png", Kind.IMAGE, None),
        ("photos/gone.png", Kind.ERROR, "it does not exist (or is a broken symbolic link)"),
        ("photos/self.jpg", Kind.ERROR, "a symbolic link loop"),
        ("photos/up", Kind.SKIPPED, "already scanned (a symbolic link loop or a second link)"),
    ]


def test_non_utf8_and_longest_names_are_listed(tmp_path):
    odd = os.path.join(os.fsencode(tmp_path), b"caf\xe9.png")
    with open(odd, "wb") as f:
        f.write(b"x")
    longest = "é" * 125 + ".png"        # 254 bytes in UTF-8: as long as ext4 allows
    touch(tmp_path / longest)
    paths = [f.path for f in scan([tmp_path]) if f.kind is Kind.IMAGE]
    assert [os.fsencode(p) for p in paths] == sorted([odd, os.fsencode(tmp_path / longest)])


def test_a_path_too_long_for_the_system_is_an_error_row(tmp_path):
    # Build a tree deeper than PATH_MAX (4096) one level at a time, relative to an open folder.
    fd = os.open(tmp_path, os.O_RDONLY)
    depth = 0
    try:
        while depth * 201 < 4300:
            os.mkdir("d" * 200, dir_fd=fd)
            new = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd, depth = new, depth + 1
        os.close(os.open("deep.png", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    finally:
        os.close(fd)
    found = list(scan([tmp_path], recursive=True))
    assert [f.kind for f in found] == [Kind.ERROR]
    assert "the path is too long for the operating system" in found[0].reason


def test_unreadable_folder_is_an_error_row(tmp_path):
    touch(tmp_path / "locked" / "a.png")
    os.chmod(tmp_path / "locked", 0)
    try:
        found = records(tmp_path, recursive=True)
    finally:
        os.chmod(tmp_path / "locked", 0o755)
    if os.geteuid() == 0:
        # root reads through permissions: the honest check here is that nothing breaks.
        assert found == [("locked/a.png", Kind.IMAGE, None)]
    else:
        assert found == [("locked", Kind.ERROR, "the folder can't be listed: permission denied")]


def test_named_files_are_errors_when_not_images(tmp_path):
    touch(tmp_path / "notes.txt")
    found = list(scan([tmp_path / "notes.txt", tmp_path / "nope.jpg"]))
    assert [(f.kind, f.reason) for f in found] == [
        (Kind.ERROR, "not a supported image type (.txt)"),
        (Kind.ERROR, "it does not exist (or is a broken symbolic link)")]
