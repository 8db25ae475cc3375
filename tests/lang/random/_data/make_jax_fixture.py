"""Writes jax_values.npz: draws from jax.random that tests/lang/random/jax_values.msl
compares with msl's. Run with JAX installed (made with jax 0.10.2, default config:
Threefry-2x32, jax_threefry_partitionable=True, 32-bit ints):

    python3 tests/lang/random/_data/make_jax_fixture.py
"""
import os

import jax
import jax.numpy as jnp
import numpy as np

R = jax.random
k = R.PRNGKey(2024)
logits = jnp.array([[0.1, 2.0, 0.5, -1.0], [1.0, 1.0, 1.0, 1.0], [-3.0, 0.0, 3.0, 0.5]], jnp.float32)
x = jnp.arange(24.0, dtype=jnp.float32).reshape(6, 4)
out = {
    "key": R.PRNGKey(2024),
    "key_neg": R.PRNGKey(-7),
    "split5": R.split(k, 5),
    "fold_in": R.fold_in(k, 123456),
    "bits": R.bits(k, (3, 700)),
    "uniform": R.uniform(k, (2048,)),
    "uniform_ab": R.uniform(k, (2048,), minval=-3.0, maxval=0.5),
    "normal": R.normal(k, (4096,)),
    "perm_small": R.permutation(k, 100),
    "perm_2rounds": R.permutation(k, 3000),  # n > 1625: two sorting rounds
    "perm_rows": R.permutation(k, x),
    "bernoulli": R.bernoulli(k, 0.3, (1000,)),
    "bernoulli_p": R.bernoulli(k, jnp.array([0.1, 0.5, 0.9], jnp.float32), (400, 3)),
    "categorical": R.categorical(k, logits),
    "categorical_shape": R.categorical(k, logits, shape=(500, 3)),
    "categorical_axis0": R.categorical(k, logits, axis=0),
    "dropout": jnp.where(R.bernoulli(k, 0.75, (64, 32)), jnp.ones((64, 32), jnp.float32) / 0.75, 0.0),
}
jax.config.update("jax_enable_x64", True)
out["uniform_f64"] = R.uniform(k, (1000,), dtype=jnp.float64)
here = os.path.dirname(os.path.abspath(__file__))
np.savez(os.path.join(here, "jax_values.npz"), **{n: np.asarray(v) for n, v in out.items()})
