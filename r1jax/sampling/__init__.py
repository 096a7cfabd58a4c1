"""r1jax.sampling: the jitted rollout sampler and its logit processors."""
from r1jax.sampling.processors import (LoopState, PROCESSORS, Processor, build_processors,
                                       budget_force)
from r1jax.sampling.sampler import (STOP_BUDGET, STOP_EOS, STOP_LENGTH, STOP_SEQUENCE,
                                    STOP_TOKEN, SampleOutput, Sampler, SamplerConfig,
                                    make_sample_fn, prefill, sample, stop_reason_name)
