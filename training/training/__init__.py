"""Training container: a PyTorch CNN image classifier and a TensorFlow/Keras MLP on MFCC features.

Runs on the SageMaker bring-your-own-container training contract (see docs/contracts.md); the
image's `train` program and `python -m training` are the same code.
"""

__version__ = "0.1.0"
