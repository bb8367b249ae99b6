"""Where corpus files come from, and the licence each one's package declares.

One enumerator per ecosystem, each yielding ``Candidate`` files whose extension maps to a
language (the ``extensions`` table of ``infill_config.json`` in docs/CONTRACTS.md):

- ``stdlib:[DIR]``         the Python standard library and CPython's C headers (PSF-2.0)
- ``site-packages:[DIR]``  installed distributions; RECORD says which files are whose,
                           METADATA says the licence
- ``npm:DIR``              a ``node_modules`` directory; each package.json's ``license``
- ``cargo:DIR``            Debian's ``/usr/share/cargo/registry``; each Cargo.toml's ``license``
- ``gocode:DIR``           Debian's ``/usr/share/gocode/src``; the nearest LICENSE file's text,
                           else the owning package's ``/usr/share/doc/PKG/copyright``
- ``shards:DIR``           a corpus (or ``data/``) directory: manifest + xz shards, re-screened

Enumerators only *report* the licence; ``corpus.screen`` decides. Files whose package cannot
be told get ``licence=None`` and are dropped there as unknown.
"""

from __future__ import annotations

import json
import lzma
import os
import re
import sysconfig
import tomllib
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path
from typing import Iterable, Iterator

from infill.training import licences
from infill.training.tokenizer import EXTENSIONS  # languages from the one table, infill.languages

_SKIP_DIRS = {"__pycache__", ".git", "node_modules", "site-packages", "dist-packages"}
_LICENCE_FILES = re.compile(r"^(LICEN[CS]E|COPYING|COPYRIGHT)([-._].*)?$", re.IGNORECASE)


@dataclass(frozen=True)
class Candidate:
    """A file that may enter the corpus. ``text`` is set when it comes from shards."""

    path: str  # "KIND/…" as written to the manifest; never machine-specific
    package: str
    licence: str | None
    language: str
    file: Path | None = None
    text: str | None = None


@dataclass(frozen=True)
class Source:
    kind: str
    root: Path | None


def parse_source(spec: str) -> Source:
    """``"npm:/opt/x/node_modules"`` -> Source; an empty path means the kind's default."""
    kind, _, path = spec.partition(":")
    if kind not in _ENUMERATORS:
        raise ValueError(f"unknown source kind {kind!r} in {spec!r}; use one of {', '.join(_ENUMERATORS)}")
    return Source(kind, Path(path) if path else None)


def iter_sources(sources: Iterable[Source]) -> Iterator[Candidate]:
    for source in sources:
        yield from _ENUMERATORS[source.kind](source.root)


def language_of(name: str) -> str | None:
    return EXTENSIONS.get(os.path.splitext(name)[1])


def _walk(root: Path, skip: set[str] = _SKIP_DIRS) -> Iterator[Path]:
    """Files under ``root`` with a known language, in sorted order, skipping ``skip`` dirs."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip and not d.startswith("."))
        for name in sorted(filenames):
            if language_of(name):
                yield Path(dirpath) / name


def iter_stdlib(root: Path | None) -> Iterator[Candidate]:
    paths = sysconfig.get_paths()
    roots = [(root, "stdlib")] if root else [(Path(paths["stdlib"]), "stdlib"), (Path(paths["include"]), "include")]
    for base, label in roots:
        if not base.is_dir():
            continue
        for file in _walk(base):
            rel = file.relative_to(base).as_posix()
            yield Candidate(f"stdlib/{label}/{rel}", "cpython", "PSF-2.0", language_of(file.name), file)


def _read_metadata(dist_info: Path) -> dict[str, list[str]]:
    try:
        message = HeaderParser().parsestr(dist_info.joinpath("METADATA").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return {}
    fields: dict[str, list[str]] = {}
    for key, value in message.items():
        fields.setdefault(key.lower(), []).append(str(value))
    return fields


def _dist_licence(dist_info: Path) -> str | None:
    found = licences.licence_from_metadata(_read_metadata(dist_info))
    if found:
        return found
    for file in sorted(dist_info.rglob("*")):
        if file.is_file() and _LICENCE_FILES.match(file.name):
            found = licences.licence_from_text(file.read_text(encoding="utf-8", errors="replace"))
            if found:
                return found
    return None


def iter_site_packages(root: Path | None) -> Iterator[Candidate]:
    base = root or Path(sysconfig.get_paths()["purelib"])
    for dist_info in sorted(base.glob("*.dist-info")):
        name = dist_info.name[: -len(".dist-info")].rsplit("-", 1)[0]
        licence = _dist_licence(dist_info)
        try:
            record = dist_info.joinpath("RECORD").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in sorted(set(record.splitlines())):
            rel = line.rsplit(",", 2)[0].strip('"')
            if not rel or rel.startswith("..") or language_of(rel) is None or "__pycache__" in rel:
                continue
            file = base / rel
            if file.is_file():
                yield Candidate(f"site-packages/{rel}", name, licence, language_of(rel), file)


def _npm_licence(meta: dict) -> str | None:
    value = meta.get("license") or meta.get("licenses")
    if isinstance(value, dict):
        value = value.get("type")
    if isinstance(value, list):
        names = [v.get("type") if isinstance(v, dict) else v for v in value]
        value = " OR ".join(str(n) for n in names if n)
    return value if isinstance(value, str) and value.strip() else None


def _npm_package_dirs(node_modules: Path) -> Iterator[Path]:
    for entry in sorted(node_modules.iterdir()) if node_modules.is_dir() else []:
        if entry.name.startswith("@"):
            yield from (p for p in sorted(entry.iterdir()) if p.is_dir())
        elif entry.is_dir() and not entry.name.startswith("."):
            yield entry


def iter_npm(root: Path | None) -> Iterator[Candidate]:
    if root is None:
        raise ValueError("npm: needs a node_modules directory, e.g. npm:/opt/infill-npm/node_modules")
    pending = [root]
    while pending:
        node_modules = pending.pop(0)
        for package_dir in _npm_package_dirs(node_modules):
            pending.append(package_dir / "node_modules")
            try:
                meta = json.loads(package_dir.joinpath("package.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            name, licence = meta.get("name") or package_dir.name, _npm_licence(meta)
            for file in _walk(package_dir):
                rel = file.relative_to(root).as_posix()
                yield Candidate(f"npm/{rel}", name, licence, language_of(file.name), file)


def iter_cargo(root: Path | None) -> Iterator[Candidate]:
    base = root or Path("/usr/share/cargo/registry")
    for crate in sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []:
        try:
            package = tomllib.loads(crate.joinpath("Cargo.toml").read_text(encoding="utf-8")).get("package", {})
        except (OSError, ValueError):
            continue
        licence = package.get("license")
        if not licence and package.get("license-file"):
            licence = licences.licence_from_text(
                crate.joinpath(package["license-file"]).read_text(encoding="utf-8", errors="replace"))
        for file in _walk(crate, _SKIP_DIRS | {"debian", "target"}):
            rel = file.relative_to(base).as_posix()
            yield Candidate(f"cargo/{rel}", package.get("name", crate.name), licence, language_of(file.name), file)


def _dpkg_owners(prefix: str) -> dict[str, str]:
    """Directory -> Debian package, from dpkg's file lists, for directories under ``prefix``."""
    owners: dict[str, str] = {}
    info = Path("/var/lib/dpkg/info")
    for listing in sorted(info.glob("golang-*.list")) if info.is_dir() else []:
        package = listing.name.split(":")[0][: -len(".list")]
        for line in listing.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(prefix) and line.endswith(".go"):
                owners.setdefault(os.path.dirname(line), package)
    return owners


def iter_gocode(root: Path | None) -> Iterator[Candidate]:
    base = root or Path("/usr/share/gocode/src")
    owners = _dpkg_owners(str(base))
    cache: dict[Path, tuple[str, str | None]] = {}

    def licence_of(directory: Path) -> tuple[str, str | None]:
        """(module path, licence) of the nearest ancestor holding a licence file."""
        if directory in cache:
            return cache[directory]
        result: tuple[str, str | None] = (directory.relative_to(base).as_posix(), None)
        texts = [f for f in sorted(directory.iterdir()) if f.is_file() and _LICENCE_FILES.match(f.name)]
        for file in texts:
            found = licences.licence_from_text(file.read_text(encoding="utf-8", errors="replace"))
            if found:
                result = (directory.relative_to(base).as_posix(), found)
                break
        else:
            if directory != base and not texts:
                result = licence_of(directory.parent)
        cache[directory] = result
        return result

    for file in _walk(base, _SKIP_DIRS | {"vendor"}):
        module, licence = licence_of(file.parent)
        if licence is None and str(file.parent) in owners:
            # Debian rarely installs LICENSE files here; its copyright file says the same.
            module = owners[str(file.parent)]
            copyright_file = Path("/usr/share/doc") / module / "copyright"
            if copyright_file.is_file():
                licence = licences.licence_from_debian_copyright(copyright_file.read_text(errors="replace"))
        yield Candidate(f"gocode/{file.relative_to(base).as_posix()}", module, licence, language_of(file.name), file)


def read_manifest(root: Path) -> list[dict] | None:
    """The manifest rows of a corpus (``manifest.jsonl``) or data/ (``manifest.jsonl.xz``)
    directory; None when it has neither."""
    path = next((p for p in (root / "manifest.jsonl", root / "manifest.jsonl.xz") if p.is_file()), None)
    if path is None:
        return None
    opener = lzma.open if path.suffix == ".xz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def iter_shards(root: Path | None) -> Iterator[Candidate]:
    """Rows of a corpus or data/ directory, with their manifest's path, package and licence."""
    if root is None:
        raise ValueError("shards: needs a directory, e.g. shards:data/")
    manifest = read_manifest(root)
    if manifest is None:
        raise ValueError(f"{root} has no manifest.jsonl(.xz); is it a corpus or data/ directory?")
    meta = {row["id"]: row for row in manifest}
    for shard in sorted(root.glob("shards/*.jsonl.xz")):
        with lzma.open(shard, "rt", encoding="utf-8") as handle:
            for row in map(json.loads, handle):
                info = meta.get(row["id"], {})
                yield Candidate(info.get("path", f"shards/{row['id']}"), info.get("package", "unknown"),
                                info.get("licence"), row["language"], text=row["text"])


_ENUMERATORS = {
    "stdlib": iter_stdlib, "site-packages": iter_site_packages, "npm": iter_npm,
    "cargo": iter_cargo, "gocode": iter_gocode, "shards": iter_shards,
}
