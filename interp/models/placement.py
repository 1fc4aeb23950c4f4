"""Big models on one machine: where the weights go when they do not fit one device.

``interp.load(..., device_map=, max_memory=, offload_folder=)`` hands these to transformers' loader (through
accelerate), which places each block on a GPU, in CPU memory or on disk; the engine then wraps the placed model
as it stands (its components fetch offloaded weights for each forward pass). Activations stay where their
block ran; analyses move them to :attr:`interp.Model.device` (the device of the first block) where they are
combined.
"""

from __future__ import annotations

import os
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import torch

from interp.errors import DeviceError, echo

DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")
"""The placement strategies of transformers' loader (accelerate's); a dict names each module's device."""


def placement_kwargs(device: Any, device_map: Any, max_memory: Any, offload_folder: Any) -> dict[str, Any]:
    """Keyword arguments for ``from_pretrained`` that place the weights; empty when none are asked for.
    ``max_memory`` or ``offload_folder`` alone imply ``device_map="auto"``."""
    if device_map is None and max_memory is None and offload_folder is None:
        return {}
    if device is not None:
        raise DeviceError(
            f"pass either device={echo(device)} or device_map/max_memory/offload_folder, not both: a device map "
            "places every block itself"
        )
    device_map = "auto" if device_map is None else device_map
    if isinstance(device_map, str):
        if device_map not in DEVICE_MAPS:
            raise DeviceError(
                f"unknown device_map {echo(device_map)}: use one of {', '.join(DEVICE_MAPS)} or a dict"
            )
    elif not isinstance(device_map, dict) or not all(
        isinstance(k, str) and isinstance(v, (str, int, torch.device)) and not isinstance(v, bool)
        for k, v in device_map.items()
    ):
        raise DeviceError(
            f"device_map must be one of {', '.join(DEVICE_MAPS)} or a dict of module name -> device "
            f"(0, 'cuda:1', 'cpu', 'disk'), got {echo(device_map)}"
        )
    if isinstance(device_map, dict) and (not device_map or "" in device_map and len(device_map) > 1):
        raise DeviceError(
            "device_map={} places no module: name a device for each module, e.g. {'': 'cpu'} for the whole "
            "model, or use device_map='auto'"
            if not device_map
            else "device_map's '' entry places the whole model: drop the other entries, or drop ''"
        )
    out: dict[str, Any] = {"device_map": device_map}
    if max_memory is not None:
        if not isinstance(max_memory, dict) or not all(
            isinstance(k, (str, int)) and isinstance(v, (str, int)) and not isinstance(v, bool)
            for k, v in max_memory.items()
        ):
            raise DeviceError(
                "max_memory must be a dict of device -> budget, e.g. {0: '20GiB', 1: '20GiB', 'cpu': '64GiB'}, "
                f"got {echo(max_memory)}"
            )
        out["max_memory"] = max_memory
    if offload_folder is not None:
        if not isinstance(offload_folder, (str, os.PathLike)):
            raise DeviceError(f"offload_folder must be a folder path, got {echo(offload_folder)}")
        folder = Path(offload_folder).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise DeviceError(f"cannot use offload_folder {echo(str(folder))}: {err.strerror}") from None
        out["offload_folder"] = str(folder)
    return out


def device_map_of(hf_model: Any) -> dict[str, Any] | None:
    """The placement accelerate gave the model's modules, or None for a model on one device."""
    placed = getattr(hf_model, "hf_device_map", None)
    return placed or None


def first_parameter(module: Any) -> torch.nn.Parameter:
    """``next(module.parameters())`` without building the generators over every module, which analyses pay
    several times per call (a depth-first walk to the first module holding a parameter: the same one, since
    ``parameters()`` visits modules in that order). Not cached, so that a model moved or edited is read anew."""
    found = _first_parameter(module)
    if found is None:
        raise StopIteration  # as next(module.parameters()) does for a module without parameters
    return found


def _first_parameter(module: Any) -> Any:
    for p in module._parameters.values():
        if p is not None:
            return p
    for child in module._modules.values():
        if child is not None:
            found = _first_parameter(child)
            if found is not None:
                return found
    return None


def execution_device(hf_model: Any) -> torch.device:
    """Where inputs go and results are combined: the first accelerator in the device map (blocks on the CPU or
    on disk run on it), else the CPU; for a model on one device, that device."""
    placed = device_map_of(hf_model)
    if placed is None:
        return first_parameter(hf_model).device
    for where in placed.values():
        if isinstance(where, int):
            return torch.device("cuda", where)
        if str(where) not in ("cpu", "disk", "meta"):
            return torch.device(where)
    return torch.device("cpu")


@contextmanager
def readable(model: Any, *modules: Any):
    """Inside the block, the offloaded weights of ``modules`` (the engine's components or the model's own
    modules) are loaded on their execution device, as they are for a forward pass, so that they can be read
    directly; outside it they go back to disk. Nothing happens for a model on one device."""
    hf = model.bridge.original_model
    if device_map_of(hf) is None:
        yield
        return
    from accelerate.utils import align_module_device, has_offloaded_params

    # accelerate hooks each module that holds weights (its own, or its children's with place_submodules):
    # those inside the modules read, and any above them that place their children.
    inside = {id(m): m for target in modules for m in target.modules() if has_offloaded_params(m)}
    wanted = {id(m) for m in modules}
    above = {
        id(m): m
        for m in hf.modules()
        if has_offloaded_params(m)
        and getattr(m._hf_hook, "place_submodules", False)
        and any(id(sub) in wanted for sub in m.modules())
    }
    owners = list({**inside, **above}.values())
    with ExitStack() as stack:
        for owner in owners:
            stack.enter_context(align_module_device(owner))
        yield


def read_tensor(model: Any, name: str, tensor: Any) -> Any:
    """``tensor``, the model's state entry ``name``; an offloaded one (on the meta device) is read from where
    accelerate keeps it, one module at a time."""
    if tensor.device.type != "meta":
        return tensor
    module_name, _, attr = name.rpartition(".")
    module = model.bridge.original_model.get_submodule(module_name)
    with readable(model, module):
        return getattr(module, attr).detach().cpu().clone()
