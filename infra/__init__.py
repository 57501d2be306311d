"""CDK app for the elastic ML platform: network, storage, training pipeline and serving stacks.

Walls: imports neither `training` nor `inference` (nor torch/tensorflow); it reads
`training/metric_definitions.json` as a data file.
"""
