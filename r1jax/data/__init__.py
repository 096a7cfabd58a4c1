"""Data: benchmark and synthetic sources, RL and SFT pipelines, seqio tasks (tasks.py).

Importing this package never imports TensorFlow: tasks.py and synthetic.tfds_builder import
seqio / TFDS inside their functions, so the trainer runs on a bare JAX image.
"""
from r1jax.data.pipeline import (PromptBatch, RLPromptPipeline, SFTBatch, SFTPipeline,
                                 first_examples)
from r1jax.data.sources import DataError, ExampleList, Mixture, get_source
from r1jax.data.synthetic import SyntheticSource

__all__ = ["DataError", "ExampleList", "Mixture", "PromptBatch", "RLPromptPipeline",
           "SFTBatch", "SFTPipeline", "SyntheticSource", "first_examples", "get_source"]
