"""The sealed artifact store: encryption at rest, integrity checks, atomic writes."""

import hashlib
import os
from pathlib import Path

import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from modelbay import Bay, DecryptionError, IntegrityError
from modelbay.registry.store import ArtifactStore, LocalBlobStore, Sealer


def store(tmp_path: Path, key: bytes | None = None) -> ArtifactStore:
    return ArtifactStore(LocalBlobStore(tmp_path / "blobs"), Sealer(key or os.urandom(32)))


def blob_path(tmp_path: Path, digest: str) -> Path:
    return tmp_path / "blobs" / digest[:2] / digest[2:]


def skops_bytes() -> bytes:
    return sio.dumps(LogisticRegression().fit([[0.0], [1.0]], [0, 1]))


def test_round_trip_and_content_address(tmp_path: Path) -> None:
    s = store(tmp_path)
    data = skops_bytes()
    put = s.put(data)
    assert put.digest == hashlib.sha256(data).hexdigest() and put.created
    assert s.get(put.digest) == data
    again = s.put(data)
    assert again.digest == put.digest and not again.created


def test_stored_bytes_hold_no_plaintext(tmp_path: Path) -> None:
    s = store(tmp_path)
    data = skops_bytes()
    put = s.put(data)
    raw = blob_path(tmp_path, put.digest).read_bytes()
    assert data[:4] == b"PK\x03\x04"  # a skops file is a zip
    assert b"PK\x03\x04" not in raw and b"schema.json" not in raw and b"sklearn" not in raw
    assert b"\x28\xb5\x2f\xfd" not in raw  # not even the zstd frame header is visible


@pytest.mark.parametrize("where", [0, 10, 60, 85, 100, -1])
def test_a_flipped_byte_anywhere_is_refused(tmp_path: Path, where: int) -> None:
    s = store(tmp_path)
    put = s.put(skops_bytes())
    path = blob_path(tmp_path, put.digest)
    raw = bytearray(path.read_bytes())
    raw[where] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises((IntegrityError, DecryptionError)):
        s.get(put.digest)


def test_truncated_and_missing_artifacts_are_refused(tmp_path: Path) -> None:
    s = store(tmp_path)
    put = s.put(skops_bytes())
    path = blob_path(tmp_path, put.digest)
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(IntegrityError, match="altered or truncated"):
        s.get(put.digest)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(IntegrityError, match="truncated"):
        s.get(put.digest)
    path.unlink()
    with pytest.raises(IntegrityError, match="missing"):
        s.get(put.digest)


def test_a_blob_moved_under_another_address_is_refused(tmp_path: Path) -> None:
    s = store(tmp_path)
    a, b = s.put(b"model a" * 100), s.put(b"model b" * 100)
    blob_path(tmp_path, a.digest).write_bytes(blob_path(tmp_path, b.digest).read_bytes())
    with pytest.raises(IntegrityError, match="another artifact"):
        s.get(a.digest)


def test_another_master_key_cannot_open(tmp_path: Path) -> None:
    put = store(tmp_path).put(b"secret model")
    with pytest.raises(DecryptionError, match="master key"):
        store(tmp_path).get(put.digest)


def test_each_artifact_has_its_own_data_key(tmp_path: Path) -> None:
    key = os.urandom(32)
    s1, s2 = store(tmp_path / "one", key), store(tmp_path / "two", key)
    d1, d2 = s1.put(b"same content"), s2.put(b"same content")
    raw1 = blob_path(tmp_path / "one", d1.digest).read_bytes()
    raw2 = blob_path(tmp_path / "two", d2.digest).read_bytes()
    assert raw1[37:77] != raw2[37:77] and raw1[89:] != raw2[89:]


def test_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    s = store(tmp_path)
    for i in range(5):
        s.put(f"artifact {i}".encode())
    names = [p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert len(names) == 5 and not [n for n in names if n.startswith(".tmp")]
    assert len(list(s.digests())) == 5


def test_datasets_are_sealed_too(sqlite_bay: Bay, cancer: pd.DataFrame) -> None:
    ds = sqlite_bay.datasets.add(cancer, name="cancer")
    path = sqlite_bay.settings.artifacts_dir / ds.artifact_digest[:2] / ds.artifact_digest[2:]
    raw = path.read_bytes()
    assert b"PAR1" not in raw and b"mean radius" not in raw
    pd.testing.assert_frame_equal(sqlite_bay.datasets.load(ds), cancer)


def test_an_iterative_imputer_loads_in_a_process_that_imported_skops_first(
    tmp_path: Path, iris: pd.DataFrame
) -> None:
    """skops trusts IterativeImputer only after sklearn's experimental switch is imported; a
    server or CLI that imports skops before the preprocessing code must load it all the same."""
    import subprocess
    import sys

    home = tmp_path / "bay"
    with Bay(home=home) as bay:
        prep = {"impute_numeric": "iterative"}
        v = bay.train(
            iris, "species", name="it", algorithm="svm", trials=1, cv=2, preprocessing=prep
        )
        expected = bay.load(v.ref).predict(iris.drop(columns="species").head(5)).tolist()
    code = (
        "import sys, skops.io, pandas as pd; from modelbay import Bay\n"
        "assert 'sklearn.experimental.enable_iterative_imputer' not in sys.modules\n"
        "import io; rows = pd.read_json(io.StringIO(sys.stdin.read()), orient='split')\n"
        f"with Bay(home={str(home)!r}) as bay: print(bay.load('it@champion').predict(rows).tolist())"
    )
    rows = iris.drop(columns="species").head(5).to_json(orient="split")
    out = subprocess.run(
        [sys.executable, "-c", code], input=rows, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(expected)
