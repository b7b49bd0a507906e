"""The source digest that --resume compares: it must see any change to the package's files and nothing else."""

from parley.code_version import code_version, source_digest


def test_source_digest_sees_every_edit_and_ignores_bytecode(tmp_path):
    package = tmp_path / "parley"
    (package / "data").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "data" / "products.jsonl").write_text('{"price": 1}\n')
    before = source_digest(package)
    assert source_digest(package) == before
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "a.cpython-312.pyc").write_bytes(b"\0")
    assert source_digest(package) == before  # bytecode comes and goes with the interpreter
    (package / "data" / "products.jsonl").write_text('{"price": 2}\n')
    assert source_digest(package) != before  # packaged data changes episodes too
    (package / "data" / "products.jsonl").write_text('{"price": 1}\n')
    assert source_digest(package) == before
    (package / "a.py").rename(package / "b.py")
    assert source_digest(package) != before  # same bytes under another name is other code
    (package / "b.py").rename(package / "a.py")
    (package / "new.py").write_text("")
    assert source_digest(package) != before  # an empty new module may still shadow or register something


def test_code_version_carries_the_running_package_digest():
    assert code_version()["source"] == source_digest() and len(source_digest()) == 64
