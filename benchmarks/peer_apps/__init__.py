"""The serving peers of `make bench-serve`, each serving the benchmark's artifact in its own venv.

Every app reuses the inference package's own stages (`ArtifactModel` below: `load_predictor` for the
framework calls and threads, `decode` for the PNG/WAV bytes, `encode` for the response), so a peer
differs from the inference server in its serving machinery only: HTTP, queueing, batching, processes.
"""
