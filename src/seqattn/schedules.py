"""Learning-rate schedules by config name (train.schedule): the one table that the config's
check, the optimiser and the error message read.

Each entry maps (peak η, steps after warmup, warmup steps, decay_steps, decay_rate) to the
schedule of the steps s after the warmup (training.optim joins it after a linear warmup).
"""

from __future__ import annotations

from typing import Callable

import jax
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
