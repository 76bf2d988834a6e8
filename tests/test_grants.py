import os

import pytest

from tessera.library.grants import Grants, NotGranted


@pytest.fixture
def tree(tmp_path):
    inside = tmp_path / "photos"
    (inside / "sub").mkdir(parents=True)
    (inside / "a.jpg").write_bytes(b"a")
    (inside / "sub" / "b.jpg").write_bytes(b"b")
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    return inside, secret


def test_folder_grant_reaches_files_below_it(tree):
    inside, _ = tree
    grants = Grants()
    g = grants.add(inside)
    assert grants.resolve(g.id, "a.jpg") == inside / "a.jpg"
    assert grants.resolve(g.id, "sub/b.jpg") == inside / "sub" / "b.jpg"


@pytest.mark.parametrize("rel", ["../secret.txt", "sub/../../secret.txt", "/etc/passwd", "",
                                 "sub//b.jpg", "a.jpg\x00.png", "sub"])
def test_paths_that_climb_out_or_are_not_files_are_refused(tree, rel):
    inside, _ = tree
    grants = Grants()
    g = grants.add(inside)
    with pytest.raises(NotGranted):
        grants.resolve(g.id, rel)


def test_symlink_pointing_outside_the_folder_is_refused(tree):
    inside, secret = tree
    os.symlink(secret, inside / "innocent.jpg")
    grants = Grants()
    g = grants.add(inside)
    with pytest.raises(NotGranted):
        grants.resolve(g.id, "innocent.jpg")


def test_symlink_inside_the_folder_is_allowed(tree):
    inside, _ = tree
    os.symlink(inside / "a.jpg", inside / "alias.jpg")
    grants = Grants()
    g = grants.add(inside)
    assert grants.resolve(g.id, "alias.jpg") == inside / "a.jpg"


def test_file_grant_is_exactly_that_file(tree):
    inside, secret = tree
    grants = Grants()
    g = grants.add(inside / "a.jpg")
    assert grants.resolve(g.id) == inside / "a.jpg"
    with pytest.raises(NotGranted):
        grants.resolve(g.id, "../secret.txt")


def test_file_replaced_by_a_link_after_granting_is_refused(tree):
    inside, secret = tree
    grants = Grants()
    g = grants.add(inside / "a.jpg")
    (inside / "a.jpg").unlink()
    os.symlink(secret, inside / "a.jpg")
    with pytest.raises(NotGranted):
        grants.resolve(g.id)


def test_unknown_grant_is_refused():
    with pytest.raises(NotGranted):
        Grants().resolve("nope")
