"""Local mode: the whole SageMaker loop on one machine, through the entry points the containers run.

`python -m local_mode` (what `make local` runs) makes or takes data, trains each model with the
training container's `train` program in an `/opt/ml`-shaped tree, packages `model.tar.gz` and unpacks
it as SageMaker hosting does, serves it with the serving container's `serve` program, invokes it
through the boto3 `sagemaker-runtime` client with held-out samples and reports what it measured.

This package imports neither `training` nor a framework: it drives the containers' programs as
subprocesses, so what works here is what runs in the images.
"""
