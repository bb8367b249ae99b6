"""``infill fill PATH... --ray ADDRESS``: the files' fills sharded over a Ray cluster.

The driver (the ``infill fill`` process) reads and parses every file, exactly as a plain run
does, and sends each file's text and spans to a pool of Ray actors, each holding one model
replica (one GPU per actor when the cluster has GPUs; Ray sets ``CUDA_VISIBLE_DEVICES``).
Results stream back as they finish, in whatever order, and are put back in file order; the
driver then prints or writes them through the same guarded writes as a plain run, so the
output is identical. A worker that dies (its process killed, its node lost) is replaced and
its file sent again, at most ``MAX_ATTEMPTS`` times; results already received are kept.

Workers answer in the JSON form of ``infill.server.wire``: the driver needs neither torch
nor the engine, only ``ray``. ``ADDRESS`` is ``local`` (start a cluster on this machine),
``auto`` (the one ``ray start --head`` started here, or ``RAY_ADDRESS``) or ``ray://host:port``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from infill.errors import InfillError, InputError, ModelError
from infill.markers import Span
from infill.server import wire

MAX_ATTEMPTS = 3
QUEUE_PER_WORKER = 2  # tasks in flight per actor: one running, one waiting


@dataclass(frozen=True)
class FillTask:
    """One file to fill: its clean text, spans and displayed path."""

    text: str
    spans: tuple[Span, ...]
    path: str


class _Worker:
    """A Ray actor: one model replica. Defined as a plain class, made remote at run time."""

    def __init__(self, request: dict[str, Any], threads: int | None) -> None:
        if threads and not os.environ.get("INFILL_THREADS"):
            os.environ["INFILL_THREADS"] = str(threads)
        from infill.server.host import LoadRequest, load_model

        self.filler = load_model(LoadRequest(**request))

    def fill(self, index: int, text: str, spans: list[dict], language: str | None, seed: int,
             path: str, options: dict[str, Any], trajectory: bool) -> dict[str, Any]:
        try:
            result = self.filler.fill_spans(text, [wire.span_from_json(s) for s in spans],
                                            language, seed, path=path,
                                            options=wire.options_from_json(options))
        except InfillError as exc:
            kind = "model" if isinstance(exc, ModelError) else "input"
            return {"index": index, "pid": os.getpid(), "error": exc.reason, "kind": kind,
                    "path": exc.path, "line": exc.line}
        return {"index": index, "pid": os.getpid(),
                "result": wire.result_to_json(result, trajectory=trajectory)}


def fill_over_ray(tasks: Sequence[FillTask], request: dict[str, Any], address: str, *,
                  language: str | None = None, seed: int = 0,
                  options: Any = None, workers: int | None = None,
                  trajectory: bool = False, progress: bool = False,
                  on_result: Callable[[int, int], None] | None = None) -> list[Any]:
    """The fill of every task, in task order. ``request`` is a ``LoadRequest`` as JSON,
    ``options`` a ``FillOptions`` (None: the defaults); ``on_result(index, worker_pid)`` is
    called as each result arrives."""
    ray = _import_ray()
    _connect(ray, address)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    cpus = int(ray.cluster_resources().get("CPU", 1))
    count = workers or (gpus or max(1, cpus // 4))
    count = max(1, min(count, len(tasks)))
    if gpus:
        actor = ray.remote(num_gpus=1)(_Worker)
        threads = None
    else:
        threads = max(1, cpus // count)
        actor = ray.remote(num_cpus=threads)(_Worker)
    env = {k: os.environ[k] for k in ("INFILL_THREADS", "OMP_NUM_THREADS", "INFILL_MODEL",
                                      "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") if k in os.environ}

    def spawn():
        return actor.options(runtime_env={"env_vars": env}).remote(request, threads)

    pool = [spawn() for _ in range(count)]
    queue = list(range(len(tasks)))
    attempts = [0] * len(tasks)
    results: list[Any] = [None] * len(tasks)
    pending: dict[Any, tuple[int, int, Any]] = {}  # object ref -> (task, pool slot, actor)
    load = [0] * count
    bar = _Bar(len(tasks)) if progress else None
    from infill.options import FillOptions

    options = wire.options_to_json(options or FillOptions())
    try:
        while queue or pending:
            for slot in range(count):
                while queue and load[slot] < QUEUE_PER_WORKER:
                    index = queue.pop(0)
                    attempts[index] += 1
                    task = tasks[index]
                    ref = pool[slot].fill.remote(index, task.text,
                                                 [wire.span_to_json(s) for s in task.spans],
                                                 language, seed, task.path, options, trajectory)
                    pending[ref] = (index, slot, pool[slot])
                    load[slot] += 1
            done, _ = ray.wait(list(pending), num_returns=1)
            ref = done[0]
            index, slot, handle = pending.pop(ref)
            load[slot] -= 1
            try:
                answer = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
                if attempts[index] >= MAX_ATTEMPTS:
                    raise ModelError(f"a Ray worker failed {MAX_ATTEMPTS} times on this file "
                                     f"({exc.__class__.__name__})", path=tasks[index].path)
                queue.insert(0, index)
                if pool[slot] is handle:  # its other tasks fail too: replace it once
                    pool[slot] = _replace(ray, handle, spawn)
                print(f"infill: a Ray worker failed on {tasks[index].path}; retrying it",
                      file=sys.stderr)
                continue
            if "error" in answer:
                error = InputError if answer["kind"] == "input" else ModelError
                raise error(answer["error"], path=answer["path"], line=answer["line"])
            results[index] = wire.result_from_json(answer["result"])
            if on_result is not None:
                on_result(index, answer["pid"])
            if bar is not None:
                bar.advance()
    finally:
        if bar is not None:
            bar.close()
        for handle in pool:
            ray.kill(handle)
    return [r for r in results if r is not None]


def worker_request(settings: Any, trust_remote_code: bool, device_map: str | None) -> dict:
    """The ``LoadRequest`` the workers load: an explicit model directory made absolute (the
    workers' working directory is not ours); the default model left for each to find."""
    from infill.server.host import LoadRequest

    model = settings.model
    if model and os.path.isdir(os.path.expanduser(model)):
        model = os.path.realpath(os.path.expanduser(model))
    device = None if settings.device in (None, "auto") else settings.device
    return LoadRequest(model, device, settings.backend, trust_remote_code, device_map).to_json()


def _replace(ray: Any, handle: Any, spawn: Callable[[], Any]) -> Any:
    try:
        ray.kill(handle)
    except Exception:  # noqa: BLE001 - already gone
        pass
    return spawn()


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise ModelError("--ray needs Ray: pip install 'infill[ray]'") from exc
    return ray


def _connect(ray: Any, address: str) -> None:
    if ray.is_initialized():
        return
    quiet = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    try:
        if address == "local":
            ray.init(num_cpus=os.cpu_count(), **quiet)
        else:
            if address == "auto" and os.environ.get("RAY_ADDRESS"):
                address = os.environ["RAY_ADDRESS"]
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ModelError(f"cannot reach the Ray cluster at {address!r}: "
                         f"{str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__}"
                         " (start one with 'ray start --head', or use --ray local)") from exc


class _Bar:
    """A progress bar on a terminal's stderr; nothing elsewhere."""

    def __init__(self, total: int) -> None:
        self._progress = None
        if sys.stderr.isatty():
            from rich.progress import Progress

            self._progress = Progress(transient=True)
            self._progress.start()
            self._task = self._progress.add_task("filling over Ray", total=total)

    def advance(self) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
