"""Devices and random streams shared by training and evaluation.

``make_mesh()`` (the 1-D data-parallel mesh), ``to_global`` (a global array
from host data) and ``rng_streams(seed)`` (the named random streams). Kept
apart from ``mdr.train`` so that ``mdr.evaluate`` needs nothing from it.
"""

from __future__ import annotations

import jax
import numpy as np


def rng_streams(seed: int) -> dict[str, jax.Array]:
  """Named random streams split once from the root key."""
  names = ("init", "data", "augment", "masks", "eval")
  return dict(zip(names, jax.random.split(jax.random.key(seed), len(names))))


def make_mesh():
  """A 1-D data-parallel mesh over all devices (all processes).

  Auto axes: shardings are constraints that XLA propagates (GSPMD), so the
  same step runs on 1 CPU, 8 simulated devices, a GPU or a TPU slice.
  """
  return jax.make_mesh((jax.device_count(),), ("data",),
                       axis_types=(jax.sharding.AxisType.Auto,))


def to_global(x, sharding):
  """A global array from the same host data on every process."""
  x = np.asarray(x)
  return jax.make_array_from_process_local_data(sharding, x, x.shape)
