"""Optimisers, learning-rate schedules and scheduled sampling's schedules by config name
(train.optimizer, train.schedule, train.scheduled_sampling): the tables that the config's check,
its error message and training read.

A schedule maps (peak η, steps after warmup, warmup steps, decay_steps, decay_rate) to the
schedule of the steps s after the warmup (training.optim joins it after a linear warmup). An
optimiser maps (learning-rate schedule, b1, b2, momentum, weight_decay) to its optax
transformation; each takes the settings it uses.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

Schedule = Callable[[float, int, int, int, float], optax.Schedule]

SCHEDULES: dict[str, Schedule] = {
    # η
    "constant": lambda peak, steps, warmup, decay_steps, decay_rate:
        optax.constant_schedule(peak),
    # η (1 + cos(π s / steps)) / 2: to 0 at the end
    "cosine": lambda peak, steps, warmup, decay_steps, decay_rate:
        optax.cosine_decay_schedule(peak, max(steps, 1)),
    # η √(warmup / (warmup + s)): the Transformer's (needs a warmup)
    "rsqrt": lambda peak, steps, warmup, decay_steps, decay_rate:
        lambda s: peak * jax.lax.rsqrt(1.0 + s / warmup),
    # η · decay_rate^(s / decay_steps)
    "exponential": lambda peak, steps, warmup, decay_steps, decay_rate:
        optax.exponential_decay(peak, decay_steps, decay_rate),
    # η / (1 + decay_rate · s / decay_steps): Keras' InverseTimeDecay, the course's `decay`
    "inverse_time": lambda peak, steps, warmup, decay_steps, decay_rate:
        lambda s: peak / (1.0 + decay_rate * s / decay_steps),
}

Optimizer = Callable[[optax.Schedule, float, float, float, float], optax.GradientTransformation]

OPTIMIZERS: dict[str, Optimizer] = {
    "adam": lambda lr, b1, b2, momentum, weight_decay: optax.adam(lr, b1=b1, b2=b2),
    # decoupled weight decay (Loshchilov & Hutter 2019)
    "adamw": lambda lr, b1, b2, momentum, weight_decay:
        optax.adamw(lr, b1=b1, b2=b2, weight_decay=weight_decay),
    # weight decay as an L2 term in the gradient, as in torch.optim.SGD
    "sgd": lambda lr, b1, b2, momentum, weight_decay:
        optax.chain(optax.add_decayed_weights(weight_decay), optax.sgd(lr, momentum=momentum)),
}

# Scheduled sampling (Bengio et al. 2015): the probability ε_i of keeping the gold token at step
# i, from (i, k = train.sampling_k, ε = train.sampling_floor); "off": the gold token always.
SAMPLING: dict[str, Callable[[jax.Array, float, float], jax.Array] | None] = {
    "off": None,
    "linear": lambda i, k, floor: jnp.maximum(floor, 1.0 - i / k),  # max(ε, 1 - i/k)
    "exponential": lambda i, k, floor: k ** i,  # k^i, 0 < k < 1
    "inverse_sigmoid": lambda i, k, floor: k / (k + jnp.exp(i / k)),  # k >= 1
}
