"""A checkpoint in few files, for machines that send back at most 8 files of 16 MiB.

    python -m infill.training.bundle unpack BUNDLE_DIR OUT_DIR [--tokenizer data/tokenizer]

``export_bundle`` writes into ``BUNDLE_DIR``:

- the checkpoint's safetensors shards (``model-0000i-of-0000n.safetensors``, at most 15 MB each);
- ``meta.tar``: every small file of the checkpoint (``config.json``, ``infill_config.json``,
  the shard index, ``train_config.json``, ``tokenizer_config.json``); the tokenizer itself
  stays behind (``data/tokenizer`` is in the tree);
- ``train_log.jsonl``: the run's log.

Every file is written under a temporary name and renamed, so a run cut at any moment leaves
the previous complete bundle (or the new one) in place. ``unpack`` rebuilds a checkpoint
folder that ``infill.load`` and ``AutoModelForMaskedLM.from_pretrained`` accept.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tarfile
from pathlib import Path

TOKENIZER_FILES = ("tokenizer.json",)


def _atomic_copy(src: Path, dst: Path) -> None:
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def export_bundle(checkpoint: str | Path, bundle: str | Path, log: str | Path | None = None) -> list[Path]:
    """Write the bundle of ``checkpoint`` into ``bundle``; returns the files written."""
    checkpoint, bundle = Path(checkpoint), Path(bundle)
    bundle.mkdir(parents=True, exist_ok=True)
    written = []
    shards = sorted(checkpoint.glob("*.safetensors"))
    for shard in shards:
        _atomic_copy(shard, bundle / shard.name)
        written.append(bundle / shard.name)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in sorted(checkpoint.iterdir()):
            if path.is_file() and path.suffix != ".safetensors" and path.name not in TOKENIZER_FILES:
                tar.add(path, arcname=path.name)
    tmp = bundle / "meta.tar.tmp"
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, bundle / "meta.tar")
    written.append(bundle / "meta.tar")
    if log is not None and Path(log).exists():
        _atomic_copy(Path(log), bundle / "train_log.jsonl")
        written.append(bundle / "train_log.jsonl")
    keep = {p.name for p in written}
    for stale in bundle.glob("*.safetensors"):
        if stale.name not in keep:
            stale.unlink()
    return written


def unpack_bundle(bundle: str | Path, out: str | Path, tokenizer: str | Path = "data/tokenizer") -> Path:
    """Rebuild a checkpoint folder from a bundle and the tokenizer in the tree."""
    bundle, out = Path(bundle), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(bundle / "meta.tar") as tar:
        for member in tar.getmembers():
            if not member.isfile() or "/" in member.name or member.name.startswith("."):
                raise ValueError(f"{bundle / 'meta.tar'}: unexpected entry {member.name!r}")
            (out / member.name).write_bytes(tar.extractfile(member).read())
    for shard in sorted(bundle.glob("*.safetensors")):
        shutil.copyfile(shard, out / shard.name)
    for name in TOKENIZER_FILES:
        shutil.copyfile(Path(tokenizer) / name, out / name)
    if (bundle / "train_log.jsonl").exists():
        shutil.copyfile(bundle / "train_log.jsonl", out / "train_log.jsonl")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infill.training.bundle", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    u = sub.add_parser("unpack", help="bundle -> checkpoint folder")
    u.add_argument("bundle", type=Path)
    u.add_argument("out", type=Path)
    u.add_argument("--tokenizer", type=Path, default=Path("data/tokenizer"))
    args = parser.parse_args(argv)
    print(unpack_bundle(args.bundle, args.out, args.tokenizer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
