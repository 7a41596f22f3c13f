"""One or more example specs for every registered policy; generic tests run over all of them.

A policy added to the registry without an example here fails ``test_every_policy_has_an_example``.
"""

EXAMPLES = [
    "FIX(k=0.01)",
    "STEP(k=0.1, gamma=0.1, l=500)",
    "NSTEP(k=0.1, gamma=0.1, l=[32000, 48000])",
    "EXP(k=0.1, gamma=0.99994)",
    "INV(k=0.01, gamma=0.0001, p=0.75)",
    "POLY(k=0.1, p=1.2, max_iter=64000)",
    "TRI(k0=0.0001, k1=0.9, l=2000)",
    "TRI2(k0=0.01, k1=0.06, l=2000)",
    "TRIEXP(k0=0.0001, k1=0.9, gamma=0.99994, l=2000)",
    "SIN(k0=0.0001, k1=0.9, l=2000)",
    "SIN2(k0=0.01, k1=0.06, l=2000)",
    "SINEXP(k0=0.0001, k1=0.9, gamma=0.99994, l=2000)",
    "COS(k0=0.01, k1=0.06, l=1000)",
    "COS2(k0=0.06, k1=0.01, l=1000)",
    "COSEXP(k0=0.01, k1=0.06, gamma=0.9999, l=1000)",
    "MULTI({0: TRI(k0=0.1, k1=0.5, l=1500), 30000: TRI(k0=0.01, k1=0.05, l=1000), 60000: TRI(k0=0.001, k1=0.005, l=500)})",
    "MULTI({0: FIX(k=0.1), 500: SINEXP(k0=0.01, k1=0.1, gamma=0.999, l=100), 2000: MULTI({0: FIX(k=0.001), 10: FIX(k=0.0001)})})",
    "0.1*TRIEXP(k0=0.0001, k1=0.9, gamma=0.99994, l=2000)",
    "0.5*(2*FIX(k=0.01))",
    "SHIFT(offset=1500, policy=SIN2(k0=0.01, k1=0.06, l=2000))",
    "CONSTANT(lr=2e-05, warmup=50)",
    "LINEAR(lr=2e-05, total=1218, warmup_ratio=0.03)",
    "COSINE(lr=2e-05, total=1218, warmup=2, min_lr=1e-06)",
    "WSD(lr=0.001, total=1000, warmup=100, decay_ratio=0.2, shape='cosine')",
    "INVSQRT(lr=0.001, warmup=400)",
    "WarmupLR(warmup_max_lr=2e-05, warmup_num_steps=500)",
    "WarmupDecayLR(total_num_steps=1218, warmup_max_lr=2e-05, warmup_num_steps=37, warmup_type='linear')",
    "WarmupCosineLR(lr=2e-05, total_num_steps=1218, warmup_num_steps=37)",
    "ReduceLROnPlateau(k=0.01, factor=0.5, patience=3)",
    "ChangeLROnPlateau(policies=[FIX(k=0.05), SIN2(k0=0.01, k1=0.06, l=200), FIX(k=0.001)], start=1, switch_at=5000)",
]
