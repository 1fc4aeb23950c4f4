"""The tuned lens (Belrose et al. 2023): one affine translator per lens row, trained to match the final layer.

Row ``l`` of the logit lens (the embeddings, then the output of every block but the last) is decoded as
``decode(h + h @ weight[l].T + bias[l])`` through the model's own final stages (final norm and unembedding, or
the masked-LM head). Translators start at zero (the logit lens itself) and are trained to minimise
KL(final distribution || translated row's distribution), summed over rows, on fresh text each step; the model
is never changed. A masked LM is trained on the text it was built for: 15% of the ordinary tokens are replaced
by its mask token (as the zoo's models were trained), and every real position counts.

Translators are saved as safetensors with the model's name and a hash of its weights, and found again by that
hash: first those trained in this session, then the cache folder (``$INTERP_CACHE``, else
``~/.cache/interp``), then ``tuned_lens.safetensors`` in the model's own folder (the zoo ships them there).
``make tuned-lens`` (:func:`ship_zoo`) retrains the zoo's shipped translators (after the zoo is retrained).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import random
import re
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from interp import checks
from interp.analysis import memory as _memory
from interp.analysis.registry import analysis
from interp.errors import InputError, InterpError, echo
from interp.models import hooks as _hooks
from interp.models import placement as _placement
from interp.models import sources
from interp.models.engine import TUNED_LENS
from interp.models.frame import content_mask, pad_id
from interp.models.handle import Model

FILE_NAME = "tuned_lens.safetensors"
"""The translators' file in a model's own folder (where the zoo ships them)."""
FORMAT = "1"
HELD_OUT_SEED = 12345
"""Seed of the zoo texts that evaluate shipped translators (those are trained on seed 0's)."""
PIECE_BYTES = 32 * 2**20
"""The most bytes of float32 logits one piece of a training step decodes (a gpt2-sized vocabulary: one row and
about 160 positions at a time; a zoo model: the whole batch at once)."""
MASK_P = 0.15
"""Share of a masked LM's ordinary tokens replaced by its mask token in training and evaluation text."""
MAX_GAIN = 1e3
"""The most a plausible translator scales a state: each weight's RMS singular value (``||weight[l]||_F /
sqrt(d_model)``; the logit lens is 0, trained zoo translators about 1), and each bias's norm relative to the
largest final-layer state it is used with. Training from zero never gets near it; a file past it is junk."""

_HASHES: weakref.WeakKeyDictionary[Model, tuple[tuple, str]] = weakref.WeakKeyDictionary()
_TRAINED: weakref.WeakKeyDictionary[Model, TunedLens] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, repr=False)
class TunedLens:
    """The translators of one model: row ``l`` is read as ``h + h @ weight[l].T + bias[l]``."""

    model_name: str
    weights_hash: str
    """sha256 of the model's weights when the translators were trained (:func:`weights_hash`)."""
    weight: torch.Tensor
    """``(n_layers, d_model, d_model)`` float32: the change each translator makes (zero: the logit lens)."""
    bias: torch.Tensor
    """``(n_layers, d_model)`` float32."""
    settings: dict[str, Any] = field(default_factory=dict)
    """How they were trained: steps, lr, batch size, seed, texts, seconds, final training KL per row."""
    path: Path | None = None
    """Where they are saved, if anywhere."""

    def __repr__(self) -> str:
        kl = self.settings.get("train_kl")
        shown = f", train KL per row {[round(k, 3) for k in kl]}" if kl else ""
        return (
            f"TunedLens({self.model_name!r}, {self.weight.shape[0]} translators, weights {self.weights_hash[:12]}"
            f"{shown}, path={str(self.path) if self.path else None!r})"
        )

    def translate_(self, resid: torch.Tensor) -> torch.Tensor:
        """Translate the lens rows ``(n_layers + 1, ..., d_model)`` in place (the last row, the final layer,
        stays as it is); one ``(..., d_model)`` temporary at a time. InputError, naming the file, for a bias far
        larger than the states it is added to or a translated row that is not finite (junk translators, not a
        fault of the model or of a hook function)."""
        w, b = self.weight.to(resid.device), self.bias.to(resid.device)
        scale = float(resid[-1].float().norm(dim=-1).max()) if resid[-1].numel() else 0.0
        largest = float(b.double().norm(dim=-1).max())  # in float64: a planted 1e30 overflows float32's norm
        if largest > MAX_GAIN * max(scale, 1.0):
            raise self._junk(
                f"a bias of norm {largest:.3g} for final-layer states of norm at most {scale:.3g}"
            )
        finite = (
            torch.isfinite(resid[:-1]).flatten(1).all(-1)
        )  # (n_layers,): the rows as the model wrote them
        for layer in range(w.shape[0]):
            resid[layer] += (resid[layer].float() @ w[layer].T + b[layer]).to(resid.dtype)
        # only rows that were finite before can blame the translators (one sync, after every row)
        bad = (finite & ~torch.isfinite(resid[:-1]).flatten(1).all(-1)).nonzero()
        if len(bad):
            raise self._junk(f"NaN or infinite states in row {int(bad[0])} once translated")
        return resid

    def _junk(self, what: str) -> InputError:
        where = self.path if self.path is not None else f"the translators of {self.model_name}"
        return InputError(
            f"{where} gives {what}, which no training produces: delete it and run interp.tuned_lens(model) again"
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the translators to ``path`` (safetensors, atomically); return the path."""
        from safetensors.torch import save

        from interp.atomic import write_atomically

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT,
            "model_name": self.model_name,
            "weights_hash": self.weights_hash,
            "settings": json.dumps(self.settings),
        }
        data = save({"weight": self.weight.contiguous(), "bias": self.bias.contiguous()}, metadata=meta)
        return write_atomically(path, lambda f: f.write(data))

    @classmethod
    def read(cls, path: str | os.PathLike) -> TunedLens:
        """Translators saved by :meth:`save` (nothing is unpickled); InputError for anything else."""
        from safetensors import safe_open

        from interp.models import closed_world

        path = Path(path)
        try:  # a regular file inside its folder, exactly as large as its header says, before it is opened
            closed_world.safetensors(path, (path.parent,))
        except InterpError as err:
            raise InputError(f"{err}; or delete it and run interp.tuned_lens(model) again") from None
        try:
            with safe_open(path, framework="pt") as f:
                meta = f.metadata() or {}
                weight, bias = f.get_tensor("weight"), f.get_tensor("bias")
            settings = json.loads(meta.get("settings", "{}"))
        except Exception as err:  # safetensors and json raise several types for a damaged file
            raise InputError(
                f"{path} does not hold tuned-lens translators ({type(err).__name__}): delete it and run "
                "interp.tuned_lens(model) again"
            ) from None
        if meta.get("format") != FORMAT or not {"model_name", "weights_hash"} <= set(meta):
            raise InputError(
                f"{path} was not written by this interp: delete it and run interp.tuned_lens(model)"
            )
        if not (torch.isfinite(weight).all() and torch.isfinite(bias).all()):
            raise InputError(
                f"{path} holds NaN or infinite translator weights, which no training writes: delete it and run "
                "interp.tuned_lens(model) again"
            )
        if weight.dim() != 3 or weight.shape[1] != weight.shape[2] or bias.shape != weight.shape[:2]:
            raise InputError(
                f"{path} holds translators of shapes {tuple(weight.shape)} and {tuple(bias.shape)}, not (n_layers, "
                "d_model, d_model) and (n_layers, d_model): delete it and run interp.tuned_lens(model) again"
            )
        # Judged by its values, not only by the hash it claims: a translator scaling states by orders of
        # magnitude (a planted or corrupted file) would decode to junk rows.
        gain = (
            torch.stack([w.double().norm() for w in weight]) / max(1, weight.shape[1]) ** 0.5
        )  # (n_layers,)
        if weight.numel() and float(gain.max()) > MAX_GAIN:
            raise InputError(
                f"{path} holds a translator that scales states by {float(gain.max()):.3g} (RMS singular value; "
                f"trained ones stay near 1, at most {MAX_GAIN:g}): it is not a trained tuned lens; delete it and run "
                "interp.tuned_lens(model) again"
            )
        return cls(meta["model_name"], meta["weights_hash"], weight.float(), bias.float(), settings, path)

    def fits(self, model: Model) -> bool:
        """Whether these translators were trained on exactly ``model``'s weights."""
        shape = (model.n_layers, model.d_model, model.d_model)
        return tuple(self.weight.shape) == shape and self.weights_hash == weights_hash(model)


def weights_hash(model: Model) -> str:
    """sha256 of every parameter and buffer of the model (names, dtypes, shapes and bytes). Remembered until a
    tensor is replaced or modified, in place or through ``.data`` (a cheap fingerprint catches what the version
    counters miss)."""
    state = model.state_dict()
    key = model.weights_version()
    known = _HASHES.get(model)
    if known is not None and known[0] == key:
        return known[1]
    digest = hashlib.sha256()
    for name in sorted(state):
        t = _placement.read_tensor(model, name, state[name]).detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        digest.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
    _HASHES[model] = (key, digest.hexdigest())
    return _HASHES[model][1]


def _check_writable(target: Path) -> None:
    """Refuse a path the translators cannot be written to: a folder, or a place without write access."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot write the translators to {target}: {err.strerror or err}") from None
    if target.is_dir():
        raise InputError(f"cannot write the translators to {target}: it is a folder; pass a file path")
    if not os.access(target.parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise InputError(f"cannot write the translators to {target}: no write access there")


def cache_dir() -> Path:
    """Where :func:`tuned_lens` saves translators by default: ``$INTERP_CACHE/tuned_lens``, else
    ``~/.cache/interp/tuned_lens``."""
    root = os.environ.get("INTERP_CACHE") or Path.home() / ".cache" / "interp"
    return Path(root) / "tuned_lens"


def _slug(model: Model) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model.name)[-80:]


def cache_path(model: Model) -> Path:
    """The cache file of ``model``'s translators: its name and the start of its weights hash."""
    return cache_dir() / f"{_slug(model)}-{weights_hash(model)[:16]}.safetensors"


def own_folder(model: Model) -> Path | None:
    """The local folder the model was loaded from, if any."""
    origin = getattr(model.config, "_name_or_path", None)
    return Path(origin) if origin and Path(origin).is_dir() else None


def translators_for(model: Model) -> TunedLens:
    """The translators trained for ``model``'s current weights; InputError saying how to train them if none
    (EngineError on another engine than the bridge: translators are found by the bridge's weights hash)."""
    model.require([TUNED_LENS], "the tuned lens")  # with lens='logit' every engine reads
    trained = _TRAINED.get(model)
    if trained is not None and trained.fits(model):
        return trained
    folder = own_folder(model)
    for path in (cache_path(model), folder / FILE_NAME if folder else None):
        if path is not None and path.is_file():
            lens = TunedLens.read(path)
            if lens.fits(model):
                _TRAINED[model] = lens
                return lens
    # Translators of the same name for other weights: the model was retrained or edited since.
    stale = sorted(cache_dir().glob(f"{glob.escape(_slug(model))}-*.safetensors"))
    stale += [folder / FILE_NAME] if folder and (folder / FILE_NAME).is_file() else []
    note = f" ({', '.join(map(str, stale[:3]))} hold translators for other weights)" if stale else ""
    if trained is not None:  # trained or found for this very model, whose weights have changed since
        raise InputError(
            f"the weights of {model.name} changed since its tuned-lens translators were trained (edited in place?), "
            f"so they no longer fit{note}: retrain them with interp.tuned_lens(model), or pass lens='logit'"
        )
    raise InputError(
        f"{model.name} has no tuned-lens translators for its current weights{note}: call "
        "interp.tuned_lens(model) first (about a minute for a zoo model), or pass lens='logit'"
    )


def _rows(model: Model, texts: Any, n: int, seed: int) -> list[torch.Tensor]:
    """Token rows ``(T,)`` of the training texts: the given ones, or ``n`` from the model's source."""
    if texts is None:
        texts = sources.reference_texts(model, n, seed)
        if texts is None:
            raise InputError(
                f"{model.name} has no default corpus (only the zoo's models have one): pass texts=[...], a list "
                "of passages typical for the model"
            )
        texts = [t for t in texts if t.strip()]  # a generated passage can come out empty
    listed = None if isinstance(texts, str) else checks.listed(texts)
    if not listed:
        raise InputError(f"texts must be a non-empty list of strings, got {echo(texts, 80)}")
    texts = listed
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"texts[{i}] must be a non-empty string, got {echo(text, 80)}")
    return [model.to_tokens(text, truncate=True)[0].cpu() for text in texts]


def masked(model: Model, row: torch.Tensor, rng: random.Random) -> torch.Tensor:
    """A masked LM's row with :data:`MASK_P` of its ordinary tokens masked (at least one); other rows as they
    are."""
    if not model.reads_mask_token or model.mask_token_id is None:
        return row
    ordinary = content_mask(model, row.tolist()).nonzero()[0].tolist()
    chosen = [i for i in ordinary if rng.random() < MASK_P] or ordinary[:1]
    row = row.clone()
    row[chosen] = model.mask_token_id
    return row


def _batch(model: Model, rows: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``(B, T)`` tokens and their attention mask."""
    T = max(len(r) for r in rows)
    tokens = torch.full((len(rows), T), pad_id(model), dtype=torch.long)
    mask = torch.zeros(len(rows), T, dtype=torch.long)
    for i, r in enumerate(rows):
        tokens[i, : len(r)], mask[i, : len(r)] = r, 1
    return tokens, mask


def _kl_backward(model: Model, resid: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Mean KL(final || translated row) ``(n_layers,)`` over the positions of ``resid`` ``(L+1, N, d_model)``,
    its gradient accumulated into ``weight`` and ``bias``. Vocabulary-sized tensors stay under
    :data:`PIECE_BYTES`: positions in chunks, rows in groups (all at once for a zoo model)."""
    L, N = weight.shape[0], resid.shape[1]
    V = model.d_vocab
    chunk = min(N, max(1, PIECE_BYTES // (4 * V)))
    group = max(1, PIECE_BYTES // (4 * V * chunk))
    kl = torch.zeros(L)
    for start in range(0, N, chunk):
        sl = slice(start, min(N, start + chunk))
        with torch.no_grad():
            final_logp = F.log_softmax(model.decode_resid(resid[-1, sl]).float(), dim=-1)  # (c, V)
            final_p = final_logp.exp()
            neg_entropy = (final_p * final_logp).sum(-1)  # (c,)
            del final_logp
        for first in range(0, L, group):
            ls = slice(first, min(L, first + group))
            h = resid[ls, sl].float()  # (g, c, d_model)
            translated = h + torch.einsum("gnd,ged->gne", h, weight[ls]) + bias[ls, None]
            logq = F.log_softmax(model.decode_resid(translated.to(resid.dtype)).float(), dim=-1)  # (g, c, V)
            piece = (neg_entropy - (final_p * logq).sum(-1)).sum(-1) / N  # (g,)
            piece.sum().backward()
            kl[ls] += piece.detach().cpu()
    return kl


@analysis("tuned_lens", result=None, needs={"tuned_lens"}, memory=_memory.tuned_lens_memory)
def tuned_lens(
    model: Model,
    texts: list[str] | None = None,
    *,
    steps: int = 300,
    lr: float = 1e-2,
    batch_size: int = 16,
    seed: int = 0,
    path: str | os.PathLike | None = None,
    progress: bool = True,
    check_memory: bool = True,
) -> TunedLens:
    """Train the model's tuned-lens translators, save them and use them for ``logit_lens(..., lens="tuned")``.

    ``texts``: passages typical for the model (a list of strings; each read up to ``n_ctx`` tokens); None
    takes ``steps * batch_size`` fresh passages of the model's source (the zoo corpus for zoo models, drawn with
    ``seed``). Each of ``steps`` Adam steps (learning rate ``lr``, decaying linearly to zero) reads
    ``batch_size`` texts, cycling through them in a ``seed``-shuffled order. Saved to ``path`` (default: the
    cache folder, :func:`cache_dir`). A zoo model takes well under a minute on one CPU thread. Past the free
    memory of the model's device (one batch of the longest text) it is refused before training, unless
    ``check_memory=False``.
    """
    import time

    from interp.progress import bar as progress_bar

    checks.model(model)
    steps = checks.integer("steps", steps, low=1, high=100_000)
    lr = checks.number("lr", lr, low=0, low_open=True, high=10)
    batch_size = checks.integer("batch_size", batch_size, low=1, high=4096)
    seed = checks.integer("seed", seed, low=0, high=checks.MAX_SEED)
    progress = checks.flag("progress", progress)
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise InputError(f"path must be None or a file path, got {echo(path, 80)}")
    target = cache_path(model) if path is None else Path(path)
    _check_writable(target)  # before the training, not after it
    start = time.perf_counter()
    rows = _rows(model, texts, steps * batch_size, seed)
    _memory.require(model, "tuned_lens", max(len(r) for r in rows), batch_size, enabled=check_memory)
    rng = random.Random(seed)
    L, d = model.n_layers, model.d_model
    weight = torch.zeros(L, d, d, device=model.device, requires_grad=True)
    bias = torch.zeros(L, d, device=model.device, requires_grad=True)
    opt = torch.optim.Adam([weight, bias], lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / steps)
    names = _hooks.resid_names(model)
    order: list[int] = []
    recent: list[torch.Tensor] = []
    for _ in progress_bar(range(steps), desc="tuned lens", show=progress):
        if len(order) < batch_size:
            more = list(range(len(rows)))
            rng.shuffle(more)
            order += more * max(1, -(-batch_size // len(rows)))
        chosen, order = order[:batch_size], order[batch_size:]
        tokens, mask = _batch(model, [masked(model, rows[i], rng) for i in chosen])
        _, cache = model.run_with_cache(tokens, names=names, attention_mask=mask, stop_after=names[-1])
        real = mask.bool().to(model.device)
        resid = torch.stack([cache.pop(n)[real] for n in names])  # (L+1, N, d_model): real positions only
        opt.zero_grad(set_to_none=True)
        kl = _kl_backward(model, resid, weight, bias)
        opt.step()
        sched.step()
        recent = (recent + [kl])[-20:]
    settings = {
        "steps": steps,
        "lr": lr,
        "batch_size": batch_size,
        "seed": seed,
        "texts": "default corpus" if texts is None else f"{len(rows)} given",
        "masked_inputs": model.reads_mask_token,
        "seconds": round(time.perf_counter() - start, 1),
        "train_kl": [round(float(k), 4) for k in torch.stack(recent).mean(0)],
    }
    lens = TunedLens(model.name, weights_hash(model), weight.detach().cpu(), bias.detach().cpu(), settings)
    try:
        lens.save(target)
    except OSError as err:
        raise InputError(f"cannot write the translators to {target}: {err.strerror or err}") from None
    lens = TunedLens(lens.model_name, lens.weights_hash, lens.weight, lens.bias, settings, target)
    _TRAINED[model] = lens
    return lens


def mean_kl(model: Model, texts: list[str], lens: str, seed: int = 0) -> list[float]:
    """Mean KL(final || row) over every real position of ``texts`` ``(n_layers + 1,)``, as
    ``logit_lens(..., lens=lens)`` reads them (a masked LM's texts masked as in training, with ``seed``)."""
    from interp.analysis.lens import logit_lens

    rng = random.Random(seed)
    total, count = torch.zeros(model.n_layers + 1, dtype=torch.float64), 0
    for row in _rows(model, texts, len(texts), seed):
        result = logit_lens(model, masked(model, row, rng)[None], position=0, lens=lens)
        total += torch.from_numpy(result.kl).double().sum(1)
        count += result.kl.shape[1]
    return [round(float(k), 4) for k in total / count]


def ship_zoo(names: list[str] | None = None, steps: int = 300) -> None:
    """Retrain the translators shipped with the zoo's models (all, or ``names``) and save them next to their
    weights. Run after the zoo is retrained: a test compares their weights hash with the shipped weights."""
    import interp
    from interp.zoo import ZOO_DIR, ZOO_MODELS, corpus_v3

    torch.set_num_threads(1)
    for name in names or list(ZOO_MODELS):
        model = interp.load(name)
        lens = tuned_lens(model, steps=steps, path=ZOO_DIR / name / FILE_NAME)
        held_out = corpus_v3.generate(64, seed=HELD_OUT_SEED)
        print(
            f"{name}: trained in {lens.settings['seconds']} s -> {lens.path}\n"
            f"  held-out KL per row, logit lens: {mean_kl(model, held_out, 'logit')}\n"
            f"  held-out KL per row, tuned lens: {mean_kl(model, held_out, 'tuned')}"
        )


__all__ = ["tuned_lens"]
