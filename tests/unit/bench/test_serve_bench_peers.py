"""The serving peers' plumbing (benchmarks.peers, serve_bench.bench_peer): why a peer is missing, what
it is sent. No peer is installed or started here; how a first answer is judged, over a loopback server:
tests/contract/bench/test_peer_answers.py."""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path

from benchmarks import peers, serve_bench
from benchmarks.peers import BY_KEY, KSERVE_JSON, MULTIPART, RAW, Peer


def fake_venv(root: Path, peer: Peer) -> None:
    python = peer.python(root)
    python.parent.mkdir(parents=True)
    python.write_text("")


def test_a_peer_without_its_venv_is_missing_and_says_how_to_install_it(tmp_path: Path) -> None:
    reason = peers.missing_reason(BY_KEY["ray"], tmp_path)
    assert reason is not None and ".venv-peers-ray is missing" in reason and "make bench-serve-peers" in reason


def test_a_failed_install_is_reported_with_the_tail_of_pips_output(tmp_path: Path) -> None:
    peer = BY_KEY["kserve"]
    fake_venv(tmp_path, peer)
    (tmp_path / peer.venv / ".failed").write_text("Collecting kserve\nERROR: ResolutionImpossible: numpy\n")
    reason = peers.missing_reason(peer, tmp_path)
    assert reason is not None and "install failed" in reason and "ResolutionImpossible: numpy" in reason


def test_torchserve_without_java_is_missing_and_installed_peers_are_not(tmp_path: Path) -> None:
    for peer in peers.PEERS:
        fake_venv(tmp_path, peer)
    assert "java" in (peers.missing_reason(BY_KEY["torchserve"], tmp_path, which=lambda _: None) or "")
    assert all(peers.missing_reason(peer, tmp_path, which=lambda c: f"/usr/bin/{c}") is None for peer in peers.PEERS)


def test_each_peer_gets_the_same_file_in_its_apis_form() -> None:
    png = b"\x89PNG\r\n\x1a\n-bytes"
    kinds = {peer.body for peer in peers.PEERS}
    assert kinds == {RAW, MULTIPART, KSERVE_JSON}
    raw, raw_type = peers.request_body(BY_KEY["ray"], png, "image.png", "image/png")
    assert (raw, raw_type) == (png, "image/png")
    form, form_type = peers.request_body(BY_KEY["bentoml"], png, "image.png", "image/png")
    assert b'name="files"; filename="image.png"' in form and png in form and form_type.startswith("multipart/")
    document, json_type = peers.request_body(BY_KEY["kserve"], png, "image.png", "image/png")
    assert json_type == "application/json"
    assert base64.b64decode(json.loads(document)["instances"][0]["b64"]) == png


def test_a_missing_peer_is_recorded_and_nothing_is_started(tmp_path: Path) -> None:
    (tmp_path / "image.png").write_bytes(b"png")
    absent = Peer("nowhere", "Nowhere", ".venv-peers-nowhere-at-all", "nowhere", RAW, "none")
    args = argparse.Namespace(seconds=1.0, warmup=0.0, peer_threads=0)
    result = serve_bench.bench_peer(absent, "cnn", tmp_path, args, threads=2)
    assert result["name"] == "Nowhere" and "is missing" in result["missing"] and "points" not in result
