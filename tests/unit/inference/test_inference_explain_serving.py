"""The explanation path's parts without a model: request parsing, slots, priority, PNGs."""

from __future__ import annotations

import asyncio
import io
import os
import threading

import numpy as np
import pytest
from inference.errors import BadRequest
from inference.explain import DEFAULT_STEPS, GRADIENT_X_INPUT, INTEGRATED_GRADIENTS, parse_explain
from inference.explain_serving import ExplanationGate, TooManyExplanations, overlay_png, wants_png

CLASSES = ("cat", "dog")


def test_explain_attribute_beside_top_k() -> None:
    assert parse_explain("top_k=3", CLASSES) is None
    request = parse_explain("top_k=3; explain=ig, target=dog", CLASSES)
    assert (request.method, request.target, request.steps) == (INTEGRATED_GRADIENTS, 1, DEFAULT_STEPS)
    assert parse_explain("explain=gradient_x_input;target=0;steps=8", CLASSES).method == GRADIENT_X_INPUT
    for bad in ("explain=lime", "explain=ig;target=2", "explain=ig;steps=257", "explain=ig;steps=x"):
        with pytest.raises(BadRequest):
            parse_explain(bad, CLASSES)


def test_png_is_chosen_only_when_listed_before_json() -> None:
    assert wants_png("image/png")
    assert wants_png("image/png, application/json;q=0.5")
    assert not wants_png("application/json, image/png")
    assert not wants_png(None) and not wants_png("*/*")


def test_slots_refuse_beyond_the_limit_and_come_back_when_the_thread_ends() -> None:
    gate = ExplanationGate(1)
    release = threading.Event()

    def work(cancel: threading.Event) -> int:
        release.wait(5)
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    async def scenario() -> int:
        gate.acquire()
        running = asyncio.ensure_future(gate.run(work))
        await asyncio.sleep(0.05)
        with pytest.raises(TooManyExplanations) as refused:
            gate.acquire()
        assert refused.value.status == 429 and int(refused.value.headers["retry-after"]) >= 1
        release.set()
        niceness = await running
        gate.acquire()  # the slot is free again
        gate.release()
        return niceness

    niceness = asyncio.run(scenario())
    assert niceness >= min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)  # below the predictions' priority
    gate.close()


def test_overlay_is_a_png_enlarged_to_at_least_224_pixels() -> None:
    from PIL import Image

    attribution = np.zeros((32, 32), np.float32)
    attribution[4:8, 4:8] = 1.0
    picture = Image.open(io.BytesIO(overlay_png(np.full((3, 32, 32), 0.5, np.float32), attribution)))
    assert picture.size == (224, 224)
    red = np.asarray(picture.convert("RGB"))[5 * 7, 5 * 7]
    grey = np.asarray(picture.convert("RGB"))[20 * 7, 20 * 7]
    assert red[0] > red[2] + 100 and abs(int(grey[0]) - int(grey[2])) < 5
