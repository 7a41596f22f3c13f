"""lrkit.train.data: idx/npz/JPEG loaders, the CIFAR-10 cache, TensorBatches and the DataLoader path.

The real-data tests read ``$LRKIT_DATA_DIR`` (the shared MNIST / CIFAR-10 JPEG folder). When the
variable is set they must run and fail if the files are missing; only when it is unset are they
skipped.
"""

import copy
import gzip
import io
import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from lrkit.train import data as D
from lrkit.train.data import jpeg_cache

# --------------------------------------------------------------------------------------------
# helpers


def write_idx(path: Path, arr: np.ndarray, code: int = 0x08, gz: bool = False, magic: bytes | None = None):
    """Write ``arr`` as an idx file (big-endian), optionally gzipped or with a forced magic."""
    header = magic if magic is not None else bytes([0, 0, code, arr.ndim])
    header += b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    dtype = {0x08: ">u1", 0x0C: ">i4", 0x0D: ">f4"}[code]
    payload = header + arr.astype(dtype).tobytes()
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)
    return path


def fake_mnist(root: Path, n_train=12, n_test=7, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for key, stem in D._MNIST_FILES.items():
        write_idx(raw / (stem + (".gz" if gz else "")), arrays[key], gz=gz)
    return arrays


@pytest.fixture
def real_root():
    env = os.environ.get("LRKIT_DATA_DIR")
    if not env:
        pytest.skip(
            "LRKIT_DATA_DIR is not set; set it to the shared data folder (MNIST/raw, "
            "cifar10-jpeg/) to run the real-data tests"
        )
    return Path(env)


def stream(b, n):
    """n batches from b as (x, y) lists."""
    return [b.next() for _ in range(n)]


def assert_same_batches(a, b):
    assert len(a) == len(b)
    for (xa, ya), (xb, yb) in zip(a, b):
        torch.testing.assert_close(xa, xb, rtol=0, atol=0)
        assert torch.equal(ya, yb)


# --------------------------------------------------------------------------------------------
# locations


def test_data_dir_and_cache_dir_follow_env(monkeypatch, tmp_path):
    monkeypatch.setenv("LRKIT_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("LRKIT_CACHE_DIR", str(tmp_path / "c"))
    assert D.data_dir() == tmp_path / "d"
    assert D.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("LRKIT_DATA_DIR")
    monkeypatch.delenv("LRKIT_CACHE_DIR")
    assert D.data_dir() == Path.home() / ".lrkit" / "data"
    assert D.cache_dir() == Path.home() / ".cache" / "lrkit"


# --------------------------------------------------------------------------------------------
# idx / MNIST


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip_plain_and_gz(tmp_path, gz):
    x = np.random.default_rng(0).integers(0, 256, (5, 3, 4), dtype=np.uint8)
    p = write_idx(tmp_path / ("a.idx" + (".gz" if gz else "")), x, gz=gz)
    got = D.read_idx(p)
    assert got.dtype == np.uint8 and got.shape == (5, 3, 4)
    np.testing.assert_array_equal(got, x)
    got[0, 0, 0] = 1  # writable


def test_read_idx_big_endian_types(tmp_path):
    v = np.array([1, -2, 300000, 7], dtype=np.int32)
    got = D.read_idx(write_idx(tmp_path / "i.idx", v, code=0x0C))
    assert got.dtype == np.int32 and got.dtype.isnative
    np.testing.assert_array_equal(got, v)
    f = np.array([[0.5, -1.25]], dtype=np.float32)
    np.testing.assert_array_equal(D.read_idx(write_idx(tmp_path / "f.idx", f, code=0x0D)), f)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_bad_magic_names_the_file(tmp_path, gz):
    x = np.zeros((2, 28, 28), np.uint8)
    p = write_idx(tmp_path / ("bad-magic" + (".gz" if gz else "")), x, gz=gz, magic=b"\x12\x34\x08\x03")
    with pytest.raises(ValueError, match=r"bad-magic.*magic number 0x12340803"):
        D.read_idx(p)
    p2 = write_idx(tmp_path / "bad-type", x, magic=b"\x00\x00\x42\x03")
    with pytest.raises(ValueError, match="bad-type.*magic"):
        D.read_idx(p2)


def test_read_idx_size_mismatch_names_the_file(tmp_path):
    p = write_idx(tmp_path / "short-file", np.zeros((3, 2), np.uint8))
    p.write_bytes(p.read_bytes()[:-1])
    with pytest.raises(ValueError, match=r"short-file.*\(3, 2\)"):
        D.read_idx(p)


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_small_tree(tmp_path, gz):
    arrays = fake_mnist(tmp_path, gz=gz)
    d = D.load_mnist(tmp_path)
    assert list(d) == ["x_train", "y_train", "x_test", "y_test"]
    assert d["x_train"].shape == (12, 1, 28, 28) and d["x_train"].dtype == np.uint8
    assert d["y_test"].shape == (7,) and d["y_test"].dtype == np.int64
    np.testing.assert_array_equal(d["x_test"][:, 0], arrays["x_test"])
    np.testing.assert_array_equal(d["y_train"], arrays["y_train"])


def test_load_mnist_missing_says_where(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # not importable
    with pytest.raises(FileNotFoundError) as e:
        D.load_mnist(tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "MNIST" / "raw") in msg and "LRKIT_DATA_DIR" in msg
    assert "t10k-labels-idx1-ubyte" in msg
    with pytest.raises(FileNotFoundError, match="download=True needs torchvision"):
        D.load_mnist(tmp_path, download=True)


def test_load_mnist_label_count_mismatch(tmp_path):
    fake_mnist(tmp_path)
    write_idx(tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte", np.zeros(6, np.uint8))
    with pytest.raises(ValueError, match="test split.*7 images but 6 labels"):
        D.load_mnist(tmp_path)


def test_real_mnist(real_root):
    d = D.load_mnist()  # through LRKIT_DATA_DIR
    assert d["x_train"].shape == (60000, 1, 28, 28) and d["x_train"].dtype == np.uint8
    assert d["x_test"].shape == (10000, 1, 28, 28) and d["x_test"].dtype == np.uint8
    assert d["y_train"].shape == (60000,) and d["y_train"].dtype == np.int64
    assert d["y_test"].shape == (10000,) and d["y_test"].dtype == np.int64
    for y in (d["y_train"], d["y_test"]):
        assert y.min() == 0 and y.max() == 9
    counts = np.bincount(d["y_test"], minlength=10)
    assert counts[0] == 980 and counts[1] == 1135 and counts.sum() == 10000
    assert d["x_train"].max() == 255 and d["x_train"].min() == 0
    ds = D.load_dataset("mnist")
    assert ds.num_classes == 10 and ds.input_shape == (1, 28, 28)
    assert ds.mean[0] == pytest.approx(0.1307, abs=1e-4) and ds.std[0] == pytest.approx(0.3081, abs=1e-4)


# --------------------------------------------------------------------------------------------
# CIFAR-10 JPEG pack


def write_jpeg_pack(path: Path, n_train=6, n_test=4, seed=0, quality=95):
    """A small pack in the cifar10_jpeg.npz layout; returns the original uint8 NCHW images."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    out, arrays = {}, {}
    for split, n in (("train", n_train), ("test", n_test)):
        # smooth images so that JPEG keeps them close
        base = rng.integers(30, 220, (n, 1, 1, 3))
        ramp = np.linspace(0, 30, 32)[None, :, None, None]
        imgs = np.clip(base + ramp, 0, 255).astype(np.uint8).repeat(32, axis=2)  # (n, 32, 32, 3)
        blobs = []
        for im in imgs:
            buf = io.BytesIO()
            Image.fromarray(im).save(buf, format="JPEG", quality=quality)
            blobs.append(np.frombuffer(buf.getvalue(), np.uint8))
        arrays[f"{split}_jpeg"] = np.concatenate(blobs)
        sizes = [len(b) for b in blobs]
        arrays[f"{split}_offsets"] = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        arrays[f"y_{split}"] = (np.arange(n) % 10).astype(np.uint8)
        out[split] = imgs.transpose(0, 3, 1, 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, classes=np.array([f"c{i}" for i in range(10)]), **arrays)
    return out


def test_cifar_jpeg_small_pack_cache_and_invalidation(tmp_path, monkeypatch):
    src = tmp_path / "data" / "cifar10-jpeg" / "cifar10_jpeg.npz"
    cache = tmp_path / "cache"
    orig = write_jpeg_pack(src)
    d = D.load_cifar10_jpeg(tmp_path / "data", cache)
    assert d["x_train"].shape == (6, 3, 32, 32) and d["x_train"].dtype == np.uint8
    assert d["y_test"].dtype == np.int64 and d["classes"][3] == "c3"
    assert np.abs(d["x_train"].astype(int) - orig["train"]).max() <= 8
    assert np.abs(d["x_test"].astype(int) - orig["test"]).max() <= 8
    files = list(cache.glob("*.npz"))
    assert len(files) == 1

    def boom(*a, **k):
        raise AssertionError("decoded again although the cache is valid")

    monkeypatch.setattr(jpeg_cache, "_decode_jpegs", boom)
    d2 = D.load_cifar10_jpeg(tmp_path / "data", cache)
    for k in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(d2[k], d[k])
    assert d2["classes"] == d["classes"]

    # a changed source (other size / mtime) is decoded again and the stale cache removed
    write_jpeg_pack(src, n_train=8, seed=1)
    os.utime(src, ns=(1_000_000_000, 1_000_000_000))
    with pytest.raises(AssertionError, match="decoded again"):
        D.load_cifar10_jpeg(tmp_path / "data", cache)
    monkeypatch.undo()
    d3 = D.load_cifar10_jpeg(tmp_path / "data", cache)
    assert d3["x_train"].shape == (8, 3, 32, 32)
    files2 = list(cache.glob("*.npz"))
    assert len(files2) == 1 and files2 != files


def test_cifar_jpeg_damaged_cache_is_rebuilt(tmp_path):
    src = tmp_path / "cifar10-jpeg" / "cifar10_jpeg.npz"
    write_jpeg_pack(src)
    d = D.load_cifar10_jpeg(tmp_path, tmp_path / "c")
    (cfile,) = (tmp_path / "c").glob("*.npz")
    cfile.write_bytes(b"not a zip")
    with pytest.warns(UserWarning, match="unreadable CIFAR-10 cache"):
        d2 = D.load_cifar10_jpeg(tmp_path, tmp_path / "c")
    np.testing.assert_array_equal(d2["x_train"], d["x_train"])


def test_cifar_jpeg_missing_says_where(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"cifar10_jpeg\.npz.*LRKIT_DATA_DIR"):
        D.load_cifar10_jpeg(tmp_path, tmp_path / "c")


def test_real_cifar10_jpeg(real_root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    d = D.load_cifar10_jpeg(cache_dir=cache)  # through LRKIT_DATA_DIR
    assert d["x_train"].shape == (50000, 3, 32, 32) and d["x_train"].dtype == np.uint8
    assert d["x_test"].shape == (10000, 3, 32, 32) and d["x_test"].dtype == np.uint8
    assert d["y_train"].dtype == np.int64 and d["y_test"].dtype == np.int64
    assert (np.bincount(d["y_train"], minlength=10) == 5000).all()
    assert (np.bincount(d["y_test"], minlength=10) == 1000).all()
    assert d["classes"][0] == "airplane" and len(d["classes"]) == 10
    mean, std = D.channel_stats(d["x_train"])
    np.testing.assert_allclose(mean, (0.4913, 0.4821, 0.4465), atol=0.01)
    np.testing.assert_allclose(std, (0.2452, 0.2428, 0.2606), atol=0.01)
    assert len(list(cache.glob("cifar10_jpeg-*.npz"))) == 1

    # the parallel decoder equals the one-process decoder (on 2,000 images)
    with np.load(real_root / "cifar10-jpeg" / "cifar10_jpeg.npz") as z:
        blob, offs = z["test_jpeg"], z["test_offsets"][:2001]
    np.testing.assert_array_equal(D._decode_jpegs(blob, offs, workers=2), d["x_test"][:2000])
    np.testing.assert_array_equal(D._decode_jpegs(blob, offs, workers=1), d["x_test"][:2000])

    def boom(*a, **k):
        raise AssertionError("decoded again although the cache is valid")

    monkeypatch.setattr(jpeg_cache, "_decode_jpegs", boom)
    ds = D.load_dataset("cifar10", cache_dir=cache)  # must come from the cache
    np.testing.assert_array_equal(ds.x_train, d["x_train"])
    np.testing.assert_array_equal(ds.y_test, d["y_test"])
    assert ds.num_classes == 10 and ds.input_shape == (3, 32, 32)
    np.testing.assert_allclose(ds.mean, mean)


# --------------------------------------------------------------------------------------------
# generic npz


def test_npz_nhwc_to_nchw_and_dataset(tmp_path):
    rng = np.random.default_rng(0)
    x_tr = rng.integers(0, 256, (5, 8, 6, 3), dtype=np.uint8)
    x_te = rng.integers(0, 256, (2, 8, 6, 3), dtype=np.uint8)
    p = tmp_path / "u.npz"
    np.savez(p, x_train=x_tr, y_train=np.array([0, 1, 2, 3, 4], np.int32), x_test=x_te, y_test=[1, 2])
    d = D.load_npz(p)
    assert d["x_train"].shape == (5, 3, 8, 6) and d["x_train"].flags.c_contiguous
    np.testing.assert_array_equal(d["x_train"], x_tr.transpose(0, 3, 1, 2))
    assert d["y_train"].dtype == np.int64
    ds = D.load_dataset(f"npz:{p}")
    assert ds.num_classes == 5 and ds.input_shape == (3, 8, 6)
    np.testing.assert_allclose(ds.mean, x_tr.reshape(-1, 3).mean(0) / 255)
    np.testing.assert_allclose(ds.std, x_tr.reshape(-1, 3).std(0) / 255)


def test_npz_nchw_float_and_grayscale(tmp_path):
    x = np.random.default_rng(0).random((4, 1, 5, 5)).astype(np.float32)
    p = tmp_path / "f.npz"
    np.savez(p, x_train=x, y_train=np.zeros(4, np.int64), x_test=x[:2, 0], y_test=np.zeros(2, np.int64))
    d = D.load_npz(p)
    assert d["x_train"].dtype == np.float32 and d["x_train"].shape == (4, 1, 5, 5)
    assert d["x_test"].shape == (2, 1, 5, 5)
    np.testing.assert_allclose(D.channel_stats(d["x_train"])[0], [x.mean()], rtol=1e-6)


def test_npz_errors(tmp_path):
    x = np.zeros((5, 3, 4, 4), np.uint8)
    p = tmp_path / "bad.npz"
    np.savez(p, x_train=x, y_train=np.zeros(4, np.int64), x_test=x, y_test=np.zeros(5, np.int64))
    with pytest.raises(ValueError, match="x_train has 5 samples but y_train has 4 labels"):
        D.load_npz(p)
    np.savez(p, x_train=x, y_train=np.zeros(5), x_test=x, y_test=np.zeros(5, np.int64))
    with pytest.raises(ValueError, match="y_train must hold integer labels"):
        D.load_npz(p)
    np.savez(p, x_train=x, y_train=np.zeros(5, np.int64))
    with pytest.raises(ValueError, match=r"missing arrays \['x_test', 'y_test'\]"):
        D.load_npz(p)
    np.savez(p, x_train=x.astype(np.int16), y_train=np.zeros(5, int), x_test=x, y_test=np.zeros(5, int))
    with pytest.raises(ValueError, match="x_train must be uint8 or float, got int16"):
        D.load_npz(p)
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        D.load_npz(tmp_path / "nope.npz")


# --------------------------------------------------------------------------------------------
# load_dataset names


def test_load_dataset_unknown_name_lists_names():
    with pytest.raises(ValueError) as e:
        D.load_dataset("cifar100")
    msg = str(e.value)
    assert "'cifar100'" in msg
    for name in ("mnist", "cifar10", "npz:<path>", "svhn", "imagenet"):
        assert name in msg


@pytest.mark.parametrize("name", ["svhn", "imagenet"])
def test_torchvision_datasets_without_torchvision(name, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # `import torchvision` fails
    with pytest.raises(ImportError, match=f"needs torchvision.*{name} data is also not present at"):
        D.load_dataset(name, tmp_path)


def test_svhn_through_torchvision_wiring(tmp_path, monkeypatch):
    class FakeSVHN:  # torchvision.datasets.SVHN's attributes: data (N, 3, 32, 32) uint8, labels
        def __init__(self, root, split, download):
            assert root == str(tmp_path / "svhn") and not download
            n = 6 if split == "train" else 3
            self.data = np.full((n, 3, 32, 32), 7 if split == "train" else 9, np.uint8)
            self.labels = np.arange(n) % 10

    fake = types.SimpleNamespace(datasets=types.SimpleNamespace(SVHN=FakeSVHN))
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    ds = D.load_dataset("svhn", tmp_path)
    assert ds.x_train.shape == (6, 3, 32, 32) and ds.y_test.tolist() == [0, 1, 2]
    assert ds.num_classes == 10 and ds.mean == pytest.approx((7 / 255,) * 3)


# --------------------------------------------------------------------------------------------
# TensorBatches


def indexed(n=50, c=1, h=4, w=4):
    """x[i] is filled with i (so a batch's pixels identify its samples), y[i] = i."""
    x = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, c, h, w)).copy()
    return x, np.arange(n)


@pytest.mark.parametrize("bs", [10, 7, 64])
def test_every_sample_once_per_epoch(bs):
    x, y = indexed(50)
    b = D.TensorBatches(x, y, bs, seed=3, scale=1.0)
    need = 3 * 50
    xs, ys = zip(*stream(b, -(-need // bs)))
    assert all(yb.shape == (bs,) for yb in ys)  # every batch is full, even past N
    ys = torch.cat(ys)[:need]
    xs = torch.cat(xs)[:need]
    assert torch.equal(xs[:, 0, 0, 0].long(), ys) and xs.dtype == torch.float32
    epochs = ys.view(3, 50)
    for e in epochs:
        assert sorted(e.tolist()) == list(range(50))
    assert not torch.equal(epochs[0], epochs[1])  # reshuffled each epoch
    assert not torch.equal(epochs[0], torch.arange(50))


def test_no_shuffle_is_in_order_and_wraps():
    x, y = indexed(10)
    b = D.TensorBatches(x, y, 4, shuffle=False, scale=1.0)
    assert [yb.tolist() for _, yb in stream(b, 3)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1]]
    assert (b.epoch, b.position) == (1, 2)


def test_seed_reproducible_and_different():
    x, y = indexed(40, c=3, h=8, w=8)
    kw = dict(batch_size=8, augment="crop_flip", padding=2)
    a = stream(D.TensorBatches(x, y, seed=1, **kw), 12)
    assert_same_batches(a, stream(D.TensorBatches(x, y, seed=1, **kw), 12))
    c = stream(D.TensorBatches(x, y, seed=2, **kw), 12)
    assert not all(torch.equal(ya, yc) for (_, ya), (_, yc) in zip(a, c))


@pytest.mark.parametrize("skip", [0, 3, 5, 7])  # 5 batches of 10 = exactly one epoch
def test_state_dict_resume_reproduces_batches(skip):
    x = np.random.default_rng(0).integers(1, 256, (50, 3, 8, 8), dtype=np.uint8)
    y = np.arange(50)
    kw = dict(batch_size=10, augment="crop_flip", scale="standardize", mean=(0.5,) * 3, std=(0.25,) * 3)
    a = D.TensorBatches(x, y, seed=5, **kw)
    stream(a, skip)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)  # the state survives torch.save
    state = torch.load(io.BytesIO(buf.getvalue()))
    expected = stream(a, 12)
    b = D.TensorBatches(x, y, seed=99, **kw)  # another seed: the state decides
    stream(b, 2)
    b.load_state_dict(copy.deepcopy(state))
    assert_same_batches(stream(b, 12), expected)
    assert (b.epoch, b.position) == (a.epoch, a.position)


def test_load_state_dict_rejects_other_split():
    x, y = indexed(20)
    state = D.TensorBatches(x, y, 4).state_dict()
    with pytest.raises(ValueError, match="num_samples=20 but this split has 10"):
        D.TensorBatches(x[:10], y[:10], 4).load_state_dict(state)


def reference_crop_flip(x, top, left, flip, p):
    """Per-image loop: pad, slice, torch.flip."""
    out = []
    for i in range(len(x)):
        padded = torch.nn.functional.pad(x[i], (p, p, p, p))
        crop = padded[:, top[i] : top[i] + x.shape[2], left[i] : left[i] + x.shape[3]]
        out.append(torch.flip(crop, dims=[2]) if flip[i] else crop)
    return torch.stack(out)


def test_crop_flip_at_matches_loop_reference():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 3, 32, 32, generator=g)
    top = torch.randint(0, 9, (16,), generator=g)
    left = torch.randint(0, 9, (16,), generator=g)
    flip = torch.randint(0, 2, (16,), generator=g).bool()
    flip[:2] = torch.tensor([True, False])
    got = D.crop_flip_at(x, top, left, flip, 4)
    assert got.shape == (16, 3, 32, 32)
    torch.testing.assert_close(got, reference_crop_flip(x, top, left, flip, 4), rtol=0, atol=0)
    # an unflipped window at the centre is the image itself
    centre = D.crop_flip_at(x, torch.full((16,), 4), torch.full((16,), 4), torch.zeros(16, dtype=torch.bool))
    assert torch.equal(centre, x)


def windows(img, p):
    """All (top, left, flip) -> window of the zero-padded image."""
    c, h, w = img.shape
    padded = torch.nn.functional.pad(img, (p, p, p, p))
    for top in range(2 * p + 1):
        for left in range(2 * p + 1):
            crop = padded[:, top : top + h, left : left + w]
            yield (top, left, False), crop
            yield (top, left, True), torch.flip(crop, dims=[2])


def test_crop_flip_batches_are_windows_of_the_padded_image():
    rng = np.random.default_rng(1)
    x = rng.integers(1, 256, (24, 3, 32, 32), dtype=np.uint8)  # non-zero: padding is visible
    b = D.TensorBatches(x, np.arange(24), 16, seed=0, augment="crop_flip", scale=1.0)
    seen = set()
    for _ in range(3):
        xb, yb = b.next()
        assert xb.shape == (16, 3, 32, 32) and xb.dtype == torch.float32
        for img, i in zip(xb, yb.tolist()):
            src = torch.from_numpy(x[i]).float()
            match = [k for k, win in windows(src, 4) if torch.equal(win, img)]
            assert match, f"sample {i} is no (flipped) 32x32 window of its padded image"
            seen.add(match[0])
    assert {k[2] for k in seen} == {False, True}  # both flipped and unflipped
    assert len({k[:2] for k in seen}) > 10  # many offsets


def test_scale_and_standardize():
    x = np.random.default_rng(2).integers(0, 256, (6, 3, 4, 4), dtype=np.uint8)
    y = np.arange(6)
    xb, yb = D.TensorBatches(x, y, 6, shuffle=False).next()  # default scale: 1/256 (Caffe)
    assert torch.equal(xb, torch.from_numpy(x).float() * 0.00390625)
    assert yb.dtype == torch.int64
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    xb, _ = D.TensorBatches(x, y, 6, shuffle=False, scale="standardize", mean=mean, std=std).next()
    ref = (torch.from_numpy(x).double() / 255 - torch.tensor(mean).double().view(1, 3, 1, 1)) / torch.tensor(
        std
    ).double().view(1, 3, 1, 1)
    torch.testing.assert_close(xb, ref.float(), rtol=1e-6, atol=1e-6)


def test_bad_arguments_name_the_field():
    x, y = indexed(8)
    with pytest.raises(ValueError, match=r"augment must be None or 'crop_flip', got 'flip'"):
        D.TensorBatches(x, y, 4, augment="flip")
    with pytest.raises(ValueError, match="needs mean and std"):
        D.TensorBatches(x, y, 4, scale="standardize")
    with pytest.raises(ValueError, match="mean and std need 1 values"):
        D.TensorBatches(x, y, 4, scale="standardize", mean=(0.1, 0.2), std=(1, 1))
    with pytest.raises(ValueError, match="scale must be a number"):
        D.TensorBatches(x, y, 4, scale="unit")
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        D.TensorBatches(x, y, 0)
    with pytest.raises(ValueError, match=r"y must be \(N,\) with N = len\(x\) = 8"):
        D.TensorBatches(x, y[:7], 4)


def test_iter_eval_in_order_once_with_short_last_batch():
    x, y = indexed(23)
    b = D.TensorBatches(x, y, 4, seed=0, augment="crop_flip", padding=1, scale=1.0)
    twin = D.TensorBatches(x, y, 4, seed=0, augment="crop_flip", padding=1, scale=1.0)
    b.next(), twin.next()
    batches = list(b.iter_eval(5))
    assert [len(yb) for _, yb in batches] == [5, 5, 5, 5, 3]
    assert torch.cat([yb for _, yb in batches]).tolist() == list(range(23))
    assert torch.equal(torch.cat([xb for xb, _ in batches]), torch.from_numpy(x).float())  # no augment
    assert_same_batches(stream(b, 8), stream(twin, 8))  # the training stream is untouched


def test_dataset_batches_uses_dataset_stats(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (10, 3, 4, 4), dtype=np.uint8)
    p = tmp_path / "d.npz"
    np.savez(p, x_train=x, y_train=np.arange(10) % 3, x_test=x[:4], y_test=np.arange(4) % 3)
    ds = D.load_dataset(f"npz:{p}")
    xb, _ = ds.batches("train", 10, scale="standardize", shuffle=False).next()
    torch.testing.assert_close(xb.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(xb.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-5, rtol=0)


# --------------------------------------------------------------------------------------------
# DataLoader path


def test_loader_batches_cycles_and_resumes():
    n = 30
    ds = torch.utils.data.TensorDataset(torch.arange(n).float()[:, None], torch.arange(n))
    a = D.loader_batches(ds, 6, shuffle=True, seed=0, num_workers=0)
    ys = torch.cat([a.next()[1] for _ in range(15)])  # 3 epochs of 5 batches
    for e in ys.view(3, n):
        assert sorted(e.tolist()) == list(range(n))
    assert not torch.equal(ys[:n], ys[n : 2 * n])
    b = D.loader_batches(ds, 6, shuffle=True, seed=0, num_workers=0)
    assert torch.equal(torch.cat([b.next()[1] for _ in range(15)]), ys)  # same seed, same order

    c = D.loader_batches(ds, 6, seed=0)
    for _ in range(7):
        c.next()
    state = copy.deepcopy(c.state_dict())
    expected = [c.next()[1] for _ in range(6)]
    d = D.loader_batches(ds, 6, seed=123)
    d.load_state_dict(state)
    assert all(torch.equal(u, v) for u, v in zip(expected, [d.next()[1] for _ in range(6)]))

    ev = list(a.iter_eval(8))
    assert [len(yb) for _, yb in ev] == [8, 8, 8, 6]
    assert torch.cat([yb for _, yb in ev]).tolist() == list(range(n))


def test_data_present_names_what_is_missing(tmp_path):
    from lrkit.train.data import data_present

    ok, line = data_present("svhn", root=tmp_path)
    assert not ok and "data not present" in line and str(tmp_path / "svhn" / "train_32x32.mat") in line
    (tmp_path / "svhn").mkdir()
    for f in ("train_32x32.mat", "test_32x32.mat"):
        (tmp_path / "svhn" / f).write_bytes(b"")
    assert data_present("svhn", root=tmp_path)[0]
    with pytest.raises(ValueError, match="name must be one of mnist, cifar10, svhn, imagenet"):
        data_present("stl10", root=tmp_path)
