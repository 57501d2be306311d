"""The forward pass in a process of its own (setting `model_process`, `INFERENCE_MODEL_PROCESS=1`).

In the default, one process runs the event loop (HTTP, decoding, encoding) and the model thread
(inference.batching), and they share one GIL: under CPU contention a thread descheduled while it holds
the GIL stalls the other. LitServe and TorchServe run the model in a worker process instead. Here the
micro-batcher, the deadlines and the fair turns stay where they are; only the call that runs a batch
(`Predictor.__call__`) crosses to a child process that owns the model:

- the child is started with `spawn` (no copy of this process's threads or locks), loads the artifact
  with the same `load_predictor` (framework, threads, warm-up) and says `ready`; the server's model
  load waits for it, so `/ping` answers 200 only once the child can run batches;
- each batch goes over a pipe (`multiprocessing.connection`: the array pickled, one copy) and its
  probabilities come back the same way; the batcher's thread blocks in the pipe's read, holding no
  GIL, while the child computes;
- an error in the child's forward pass comes back as that batch's error (a 500, as in-process); a
  child that has died fails every later batch and `/ping` answers 503, so the platform replaces the
  instance;
- stop: after the batcher's thread has finished, the child is told to exit and joined briefly, then
  killed; it is a daemon process and it exits by itself when its pipe closes (the server killed).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from inference.errors import ArtifactError

log = logging.getLogger(__name__)

STOP_JOIN_S = 2.0


class ModelProcessExited(RuntimeError):
    """The child that runs the forward passes is gone."""


def _child(connection: Connection, model_dir: str, threads: int) -> None:
    """The model process: load, say `ready` (or why not), then answer batches until told to stop."""
    # The server decides when to stop (its drain): a Ctrl-C or SIGTERM sent to the whole process group
    # must not end the model before the requests in flight have their answers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from inference.artifact import load_manifest
    from inference.models import load_predictor

    try:
        predictor = load_predictor(load_manifest(Path(model_dir)), threads)
    except Exception as error:
        connection.send(("error", str(error)))
        return
    connection.send(("ready", None))
    while True:
        try:
            message = connection.recv()
        except EOFError:  # the server is gone
            return
        if message is None:
            return
        entry, batch = message
        try:
            connection.send(("ok", predictor(entry, batch)))
        except Exception as error:
            connection.send(("error", f"{type(error).__name__}: {error}"))


class ForwardProcess:
    """`(entry, batch) -> probabilities` like a Predictor, run by a child process; called from the
    batcher's thread only (one batch in flight at a time)."""

    def __init__(self, model_dir: Path, threads: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child_end = context.Pipe()
        self._process = context.Process(
            target=_child, args=(child_end, str(model_dir), threads), name="model-process", daemon=True
        )
        self._process.start()
        child_end.close()
        try:
            status, detail = self._connection.recv()
        except EOFError:  # it died while loading (a crash, or killed for memory)
            self._process.join(5)
            status, detail = "error", f"the model process exited with code {self._process.exitcode} while loading"
        if status != "ready":
            self.close()
            raise ArtifactError(str(detail))
        log.info("the forward pass runs in process %d", self._process.pid)

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def __call__(self, entry: str, batch: np.ndarray) -> np.ndarray:
        try:
            self._connection.send((entry, batch))
            status, result = self._connection.recv()
        except (EOFError, OSError) as error:
            raise ModelProcessExited(f"the model process has exited (code {self._process.exitcode})") from error
        if status != "ok":
            raise RuntimeError(f"the model process: {result}")
        return result

    def close(self, timeout: float = STOP_JOIN_S) -> None:
        try:
            self._connection.send(None)
        except (OSError, ValueError):  # already gone, or this end closed
            pass
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout)
        self._connection.close()
