"""seqattn: RNN encoder-decoders with attention in JAX/Flax.

The Python API (seqattn.api): `load_config`, `train`, `load`; a loaded `Model` predicts, shows
its attention and evaluates.
"""

__all__ = ["Attention", "Model", "load", "load_config", "train"]


def __getattr__(name: str):
  # Loaded on first use: `import seqattn.runtime.allocator` (launch.py's first step, before it
  # may run itself again under another malloc) must not import JAX.
  if name in __all__:
    from seqattn import api
    return getattr(api, name)
  raise AttributeError(f"module 'seqattn' has no attribute {name!r}")
