"""r1jax.models.params: random init (jitted once per model, mesh and rules), shardings."""
import jax
import numpy as np

from r1jax import sharding
from r1jax.models import params as params_lib
from r1jax.models import presets


def test_init_is_jitted_once_per_model_mesh_and_rules():
  """A process builds the same model many times (each run of a sweep, its evaluations, a
  test session): the second init reuses the first one's jit (no new trace), and still
  draws from its own key."""
  mc = presets.get("tiny", vocab_size=61)  # A model no other test builds.
  before = params_lib._jitted_init.cache_info()  # pylint: disable=protected-access
  a = params_lib.init_params(mc, jax.random.key(0))
  b = params_lib.init_params(mc, jax.random.key(1))
  a_again = params_lib.init_params(mc, jax.random.key(0))
  after = params_lib._jitted_init.cache_info()  # pylint: disable=protected-access
  assert (after.misses - before.misses, after.hits - before.hits) == (1, 2)
  for x, y, z in zip(jax.tree.leaves(a), jax.tree.leaves(b), jax.tree.leaves(a_again)):
    np.testing.assert_array_equal(x, z)
    assert x.shape == y.shape
  assert any(not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_rules_given_as_lists_init_like_tuples():
  """Rules read from a config may hold lists; they key the same jitted init as tuples."""
  mc = presets.get("tiny", vocab_size=59)
  mesh = sharding.make_mesh({"data": 2, "fsdp": 2, "tensor": 2})
  as_lists = [[name, list(axes) if isinstance(axes, tuple) else axes]
              for name, axes in sharding.DEFAULT_RULES]
  a = params_lib.init_params(mc, jax.random.key(0), mesh)
  b = params_lib.init_params(mc, jax.random.key(0), mesh, as_lists)
  want = params_lib.param_shardings(mc, mesh)
  for x, y, s in zip(jax.tree.leaves(a), jax.tree.leaves(b), jax.tree.leaves(want)):
    np.testing.assert_array_equal(x, y)
    assert x.sharding == s and y.sharding == s
