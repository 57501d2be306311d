"""Load an artifact's exported model and run forward passes, importing only the framework it names.

A `Predictor` maps an entry point (`image`, `waveform`, `features`; see inference.decoding) and a
float32 batch to float32 probabilities `(N, num_classes)`. It is called from one thread only, the
micro-batcher's.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from inference.artifact import AudioInput, ImageInput, Manifest
from inference.decoding import FEATURES, IMAGE, WAVEFORM
from inference.errors import ArtifactError
from inference.settings import SMALL_BATCH_ROWS

log = logging.getLogger(__name__)

# torch.export artifacts declare a dynamic batch of 1..1024 (docs/contracts.md).
MAX_FORWARD_BATCH = 1024

# A torch forward pass of fewer rows than this runs on one intra-op thread, bigger ones on `threads`.

Forward = Callable[[np.ndarray], np.ndarray]


class Predictor:
    def __init__(self, manifest: Manifest, forwards: dict[str, Forward]) -> None:
        self.manifest = manifest
        self.forwards = forwards

    @property
    def entries(self) -> tuple[str, ...]:
        return tuple(self.forwards)

    def example(self, entry: str, batch: int = 1) -> np.ndarray:
        spec = self.manifest.input
        if isinstance(spec, ImageInput):
            shape: tuple[int, ...] = (3, spec.height, spec.width)
        elif entry == WAVEFORM:
            assert spec.num_samples is not None  # a waveform entry exists only with its length (inference.artifact)
            shape = (spec.num_samples,)
        else:
            shape = tuple(spec.feature_shape)
        return np.zeros((batch, *shape), dtype=np.float32)

    def __call__(self, entry: str, batch: np.ndarray) -> np.ndarray:
        forward = self.forwards[entry]
        outputs = [forward(batch[i : i + MAX_FORWARD_BATCH]) for i in range(0, len(batch), MAX_FORWARD_BATCH)]
        probabilities = np.concatenate(outputs) if len(outputs) > 1 else outputs[0]
        expected = (len(batch), len(self.manifest.class_names))
        if probabilities.shape != expected:
            raise ArtifactError(f"model returned shape {probabilities.shape}, expected {expected}")
        return probabilities

    def warm_up(self) -> None:
        """Run each entry point at batch 1, 2 and SMALL_BATCH_ROWS (both thread settings of a torch
        model) so the first requests pay no tracing or set-up cost."""
        for entry in self.entries:
            for batch in (1, 2, SMALL_BATCH_ROWS):
                self(entry, self.example(entry, batch))


def _torch_forwards(manifest: Manifest, threads: int) -> dict[str, Forward]:
    # libgomp's threads spin at the end of a parallel region waiting for the next one. With the event
    # loop, the load generator or another process on the same cores, a spinning thread holds a core
    # its partner needs: a 32x32 CNN pass of 3 rows took 1.26 s instead of 40 ms on 2 threads on a
    # loaded 2-vCPU machine. PASSIVE makes them sleep instead. Read when libgomp loads, so it only
    # applies if torch is not imported yet (the server: yes); an explicit setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass
    try:
        module = torch.export.load(str(manifest.model_path)).module()
    except Exception as error:
        raise ArtifactError(f"{manifest.model_path}: cannot load the exported program ({error})") from error

    def forward(batch: np.ndarray) -> np.ndarray:
        # Called on the model thread only; torch's setting is per calling thread (OpenMP), so set here.
        wanted = 1 if len(batch) < SMALL_BATCH_ROWS else threads
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)
        with torch.inference_mode():
            return module(torch.from_numpy(np.ascontiguousarray(batch))).float().numpy()

    return {IMAGE: forward}


def _tensorflow_forwards(manifest: Manifest, threads: int) -> dict[str, Forward]:
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime is already initialised in this process
        pass
    try:
        loaded = tf.saved_model.load(str(manifest.model_path))
    except Exception as error:
        raise ArtifactError(f"{manifest.model_path}: cannot load the SavedModel ({error})") from error
    spec = manifest.input
    assert isinstance(spec, AudioInput)
    names = {FEATURES: spec.features_signature}
    if spec.waveform_signature is not None:
        names[WAVEFORM] = spec.waveform_signature
    forwards: dict[str, Forward] = {}
    for entry, name in names.items():
        function = getattr(loaded, name, None)
        if function is None:
            raise ArtifactError(f"{manifest.model_path}: the SavedModel has no endpoint {name!r}")
        forwards[entry] = _tf_forward(tf, function, loaded)
    return forwards


def _tf_forward(tf: Any, function: Callable[..., object], owner: object) -> Forward:
    """`tf`: the tensorflow module, imported lazily (and untyped). `owner` (the loaded SavedModel) holds the
    variables; the closure keeps it alive."""

    def forward(batch: np.ndarray) -> np.ndarray:
        assert owner is not None
        result = function(tf.constant(batch))
        if isinstance(result, dict):
            (result,) = result.values()
        return np.asarray(result, dtype=np.float32)

    return forward


def load_predictor(manifest: Manifest, threads: int) -> Predictor:
    """Load the model the manifest names and check it on a dummy batch."""
    if manifest.framework == "pytorch":
        if not manifest.is_image:
            raise ArtifactError("pytorch artifacts are image classifiers in schema_version 1")
        forwards = _torch_forwards(manifest, threads)
    else:
        if manifest.is_image:
            raise ArtifactError("tensorflow artifacts are audio classifiers in schema_version 1")
        forwards = _tensorflow_forwards(manifest, threads)
    predictor = Predictor(manifest, forwards)
    predictor.warm_up()
    log.info("loaded %s (%s, %s) with %d threads", manifest.name, manifest.framework, manifest.task, threads)
    return predictor
