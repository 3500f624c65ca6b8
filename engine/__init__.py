"""What every launcher shares: config, machine fit, batch scaling, atomic checkpoints, resume
allow-list, and the hooks/loops that survive bad files, NaNs, kills and preemption (long runs).
The lowest layer: imports mmengine and torch, never another package of this project.
"""
from . import mmengine_compat  # noqa: F401  (allow-lists checkpoint types process-wide)
from .checkpoint_hook import AtomicCheckpointHook  # noqa: F401  (registers it in mmengine's HOOKS)
from .exact_resume import (RandomStateHook, ResumableEpochBasedTrainLoop,  # noqa: F401
                           ResumableIterBasedTrainLoop)
from .nonfinite import NonFiniteLossHook  # noqa: F401
from .preemption import PreemptionHook  # noqa: F401
from .skipped_samples import SkippedSamplesHook  # noqa: F401
