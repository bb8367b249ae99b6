"""Fit the working tree into what one device call carries, and put it back afterwards.

A device call sends the working tree (tracked files and untracked files git does not
ignore, plus the ignored paths named in `carry`) and refuses more than 64 MiB. Since v1 the
tree holds more: `models/house` (51 MB of bf16 shards), `data/` (19 MB of shards already
compressed) and `evalsets/` (18 MB of JSON lines) are 89 MB together. Training needs all
three (the weights to continue from, the corpus shards, the evaluation sets whose holes the
corpus build leaves out), so they travel compressed instead:

    python3 scripts/device_pack.py pack      # here: models/ and evalsets/ -> .device-pack/
    # device run, carry [".device-pack"]:
    #   python3 scripts/device_pack.py unpack && INIT=models/house ... scripts/train_gpu.sh
    python3 scripts/device_pack.py restore   # here, after the call: the tree as it was
    python3 scripts/device_pack.py size      # what a call would send now

`pack` writes one xz tar per path into `.device-pack/` (git-ignored, so it travels only when
carried and is never committed), moves the originals into the git directory (which never
travels and survives the session), and checks that the call now fits. `unpack` rebuilds
the paths on the device machine and verifies every file's sha256; `restore` moves the
originals back here. Between `pack` and `restore`, git shows the packed paths as deleted:
commit nothing in between.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

LIMIT = 64 * 1024 * 1024          # bytes a device call carries
PACK = ".device-pack"             # travels when carried; git-ignored
DEFAULT_PATHS = ("models", "evalsets")
SAFE = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}   # Python >= 3.11.4


class PackError(Exception):
    pass


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def aside_dir(root: Path) -> Path:
    gitdir = Path(git(root, "rev-parse", "--absolute-git-dir").strip())
    return gitdir / "device-aside"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def files_under(root: Path, rel: str) -> list[str]:
    base = root / rel
    if base.is_file():
        return [rel]
    return sorted(p.relative_to(root).as_posix() for p in base.rglob("*") if p.is_file())


def travelling(root: Path, carry: tuple[str, ...] = (PACK,)) -> dict[str, int]:
    """Bytes per file that a device call would send: what git tracks or does not ignore, as
    it is on disk now (a deleted tracked file stays behind), plus the carried paths."""
    listed = git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    sizes = {}
    for rel in filter(None, listed):
        p = root / rel
        if p.is_file() and not p.is_symlink():
            sizes[rel] = p.stat().st_size
    for c in carry:
        if (root / c).exists():
            sizes.update({rel: (root / rel).stat().st_size for rel in files_under(root, c)})
    return sizes


def by_top_folder(sizes: dict[str, int]) -> list[tuple[str, int]]:
    tops: dict[str, int] = {}
    for rel, n in sizes.items():
        top = rel.split("/", 1)[0]
        tops[top] = tops.get(top, 0) + n
    return sorted(tops.items(), key=lambda kv: -kv[1])


def describe(sizes: dict[str, int], head: int = 6) -> str:
    total = sum(sizes.values())
    parts = ", ".join(f"{top} {n / 2**20:.1f}" for top, n in by_top_folder(sizes)[:head])
    return f"{total / 2**20:.1f} MiB of {LIMIT / 2**20:.0f} ({parts} MiB)"


def pack(root: Path, paths: tuple[str, ...], preset: int) -> dict:
    aside = aside_dir(root)
    if (aside / "manifest.json").exists():
        raise PackError(f"{aside}: already packed; run `device_pack.py restore` first")
    for rel in paths:
        if Path(rel).is_absolute() or ".." in Path(rel).parts or not (root / rel).exists():
            raise PackError(f"{rel}: not a path inside the repository")
    out = root / PACK
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    manifest = {"paths": list(paths), "files": {}, "archives": {}}
    for rel in paths:
        archive = out / (rel.replace("/", "__") + ".tar.xz")
        names = files_under(root, rel)
        with tarfile.open(archive, "w:xz", preset=preset) as tar:
            for name in names:
                tar.add(root / name, arcname=name, recursive=False)
                manifest["files"][name] = sha256(root / name)
        manifest["archives"][rel] = archive.name
    text = json.dumps(manifest, indent=1, sort_keys=True)
    (out / "manifest.json").write_text(text)
    aside.mkdir(exist_ok=True)
    (aside / "manifest.json").write_text(text)      # first, so restore can undo a partial move
    for rel in paths:
        dest = aside / "tree" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(root / rel, dest)
    sizes = travelling(root)
    if sum(sizes.values()) > LIMIT:
        restore(root)
        raise PackError(f"still too large to travel even packed: {describe(sizes)}; nothing moved")
    return {"sizes": sizes, "manifest": manifest}


def mismatched(root: Path, files: dict[str, str], under: str | None = None) -> list[str]:
    """The packed files (of ``under`` alone, if given) missing from the tree or changed."""
    return [name for name, digest in files.items()
            if (under is None or name == under or name.startswith(under + "/"))
            and not ((root / name).is_file() and sha256(root / name) == digest)]


def unpack(root: Path) -> int:
    """On the device machine: rebuild the packed paths from .device-pack and verify them."""
    man_path = root / PACK / "manifest.json"
    if not man_path.exists():
        raise PackError(f"{man_path}: missing; was .device-pack named in the call's carry?")
    manifest = json.loads(man_path.read_text())
    for rel, name in manifest["archives"].items():
        with tarfile.open(root / PACK / name, "r:xz") as tar:
            tar.extractall(root, **SAFE)
    bad = mismatched(root, manifest["files"])
    if bad:
        raise PackError(f"{bad[0]}: differs from the packed file after unpacking ({len(bad)} files)")
    return len(manifest["files"])


def restore(root: Path) -> int:
    """Here, after the call: move the originals back and drop .device-pack."""
    aside = aside_dir(root)
    man_path = aside / "manifest.json"
    if not man_path.exists():
        raise PackError(f"{aside}: nothing is packed")
    manifest = json.loads(man_path.read_text())
    for rel in manifest["paths"]:
        src, dest = aside / "tree" / rel, root / rel
        if not src.exists():
            continue                                # never moved (pack stopped early)
        if dest.exists():
            if mismatched(root, manifest["files"], under=rel):
                raise PackError(f"{rel}: differs between the tree and {aside}; move one away by hand")
            shutil.rmtree(src) if src.is_dir() else src.unlink()  # checked out again (a switch)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dest)
    bad = mismatched(root, manifest["files"])
    if bad:
        raise PackError(f"{bad[0]}: differs from the file packed ({len(bad)} files); {aside} kept")
    shutil.rmtree(aside)
    shutil.rmtree(root / PACK, ignore_errors=True)
    return len(manifest["files"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=("pack", "unpack", "restore", "size"))
    ap.add_argument("paths", nargs="*", help=f"with pack: paths to pack (default {' '.join(DEFAULT_PATHS)})")
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--preset", type=int, default=6, help="xz preset for pack (0-9)")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    try:
        if args.command == "pack":
            result = pack(root, tuple(args.paths) or DEFAULT_PATHS, args.preset)
            print(f"packed {len(result['manifest']['files'])} files of {', '.join(result['manifest']['paths'])}; "
                  f"a call with carry [\"{PACK}\"] sends {describe(result['sizes'])}")
            print(f"originals are in {aside_dir(root)}: run `device_pack.py restore` after the call, "
                  "and commit nothing before")
        elif args.command == "unpack":
            print(f"unpacked and verified {unpack(root)} files")
        elif args.command == "restore":
            print(f"restored and verified {restore(root)} files")
        else:
            print(f"a call now sends {describe(travelling(root))}")
    except PackError as e:
        print(f"device_pack: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
