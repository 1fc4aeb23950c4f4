"""Hub ids from the local Hugging Face cache, without the network.

``interp.load("org/name")`` with the hub off (``HF_HUB_OFFLINE=1``) reads the snapshot that the standard cache
layout names: ``<cache>/models--org--name/snapshots/<revision>/``, where ``refs/main`` holds the revision. The
snapshot is then loaded like any local folder (vetted first), and the revision is recorded on the model and on
every result. The cache is found as huggingface_hub finds it, read at each call: ``$HF_HUB_CACHE``, else
``$HF_HOME/hub``, else ``$XDG_CACHE_HOME/huggingface/hub``, else ``~/.cache/huggingface/hub``.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from interp.errors import ModelLoadError, echo
from interp.models import closed_world

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$")
_TRUE = {"1", "true", "yes", "on"}
_COMMIT = re.compile(r"^[0-9a-f]{7,64}$")  # what huggingface_hub writes into refs/<branch or tag>
_REF_BYTES = 1024


@dataclass(frozen=True)
class Snapshot:
    """One cached revision of a hub model."""

    repo: str
    revision: str
    folder: Path

    @property
    def roots(self) -> tuple[Path, ...]:
        """Where the snapshot's files may resolve: the snapshot itself and its repo's ``blobs`` folder."""
        return (self.folder, self.folder.parent.parent / "blobs")


def is_hub_id(name: str) -> bool:
    """Whether ``name`` is written as a hub id (``name`` or ``org/name``)."""
    return bool(_HUB_ID.match(name)) and ".." not in name


def offline() -> bool:
    """Whether the hub is switched off (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``)."""
    return any(
        os.environ.get(k, "").strip().lower() in _TRUE for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def cache_dir() -> Path:
    """The hub cache folder, as huggingface_hub resolves it from the environment now."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(xdg).expanduser() / "huggingface" / "hub"


def _repo_folder(repo: str) -> Path:
    return cache_dir() / ("models--" + repo.replace("/", "--"))


def find(repo: str, revision: str | None = None) -> Snapshot | None:
    """The snapshot of ``repo`` that ``refs/main`` names (the only snapshot where there is no ref), or None if
    the cache does not hold the model. ``revision``: a branch or tag the cache has a ref for, a commit hash, or
    its first 7 or more characters; one the cache does not hold is an error listing those it does. A snapshot
    without its config is an error saying what to do."""
    if not is_hub_id(repo):
        return None
    base = _repo_folder(repo)
    snapshots = base / "snapshots"
    if not snapshots.is_dir():
        return None
    if revision is not None:
        return _snapshot(repo, _named(repo, base, revision), snapshots)
    ref = base / "refs" / "main"
    if os.path.lexists(ref):
        revision = _read_ref(repo, base, ref)
    else:
        held = sorted(p.name for p in snapshots.iterdir() if p.is_dir())
        if len(held) != 1:
            if not held:
                return None
            raise ModelLoadError(
                f"the Hugging Face cache holds {len(held)} snapshots of {repo!r} ({', '.join(held[:5])}) but no "
                f"refs/main naming one: load the snapshot folder you mean, e.g. interp.load('{snapshots / held[0]}')"
            )
        revision = held[0]
    return _snapshot(repo, revision, snapshots)


def _named(repo: str, base: Path, revision: str) -> str:
    """The commit a ``revision`` names in the cache: a ref (branch or tag), a commit or a prefix of one."""
    refs = base / "refs"
    held = sorted(p.name for p in (base / "snapshots").iterdir() if p.is_dir())
    names = sorted(str(p.relative_to(refs)) for p in refs.rglob("*") if p.is_file()) if refs.is_dir() else []
    if revision in names and ".." not in revision:
        return _read_ref(repo, base, refs / revision)
    if revision in held:
        return revision
    matches = [h for h in held if len(revision) >= 7 and h.startswith(revision)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ModelLoadError(
            f"the revision prefix {echo(revision)} of {repo!r} is ambiguous: the Hugging Face cache holds "
            f"{len(matches)} snapshots starting with it ({', '.join(matches[:5])}). Pass more characters of "
            "the commit you mean"
        )
    raise ModelLoadError(
        f"the Hugging Face cache holds no revision {echo(revision)} of {repo!r}: it holds "
        f"{', '.join([*names, *held][:8]) or 'none'}. Download that revision where the hub is reachable "
        f"(huggingface-cli download {repo} --revision REVISION), or pass one of those"
    )


def _read_ref(repo: str, base: Path, ref: Path) -> str:
    """The commit a ref file names: a regular file inside the repo's cache folder, holding a commit hash."""
    closed_world.regular(ref, (base,), "hub-cache ref", limit=_REF_BYTES)
    text = Path(os.path.realpath(ref)).read_text(encoding="utf-8", errors="replace").strip()
    if not _COMMIT.match(text):
        raise ModelLoadError(
            f"the Hugging Face cache's ref {closed_world.shown(ref)} of {repo!r} holds {echo(text, 80)}, not a "
            f"commit hash: the cache is damaged. Download the model again (huggingface-cli download {repo}) or "
            "load its snapshot folder"
        )
    return text


def _snapshot(repo: str, revision: str, snapshots: Path) -> Snapshot:
    folder = snapshots / revision
    if revision in (".", "..") or "/" in revision or "\\" in revision:
        raise ModelLoadError(f"{echo(revision)} is not a revision of {repo!r}: pass a branch, tag or commit")
    if os.path.lexists(folder):
        closed_world.regular_folder(folder, (snapshots,))
    if not revision or not (folder / "config.json").is_file():
        raise ModelLoadError(
            f"the Hugging Face cache's snapshot {echo(revision)} of {repo!r} ({folder}) has no config.json: the "
            f"download is incomplete. Download it again where the hub is reachable (huggingface-cli download "
            f"{repo}), or load a complete folder"
        )
    return Snapshot(repo, revision, folder)


def blobs_of(folder: Path) -> tuple[Path, ...]:
    """The cache's ``blobs`` folder when ``folder`` is a snapshot of the cache layout
    (``models--org--name/snapshots/<revision>``), whose files link there; nothing otherwise."""
    real = Path(os.path.realpath(folder))
    if real.parent.name == "snapshots" and real.parent.parent.name.startswith("models--"):
        return (real.parent.parent / "blobs",)
    return ()


def cached_repos() -> list[str]:
    """Hub ids of the models in the cache."""
    try:
        return sorted(
            p.name.removeprefix("models--").replace("--", "/")
            for p in cache_dir().iterdir()
            if p.name.startswith("models--")
        )
    except OSError:
        return []


def not_cached(name: str, known: list[str]) -> ModelLoadError:
    """The error for a name that is neither a known model nor in the cache while the hub is off."""
    cached = cached_repos()
    close = difflib.get_close_matches(name[:200], known + cached, n=1, cutoff=0.8)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ModelLoadError(
        f"unknown model {echo(name)}.{hint} Embedded models: {', '.join(known)}. The hub is off "
        f"(HF_HUB_OFFLINE=1) and the local Hugging Face cache ({echo(str(cache_dir()))[1:-1]}) does not hold it: "
        f"download it where the hub is reachable (huggingface-cli download {name if len(name) <= 80 else 'ORG/NAME'}), "
        "point "
        "HF_HUB_CACHE or HF_HOME at a cache that holds it, or load a local folder"
    )
