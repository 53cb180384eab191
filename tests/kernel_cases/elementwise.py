"""Parity cases for the elementwise kernels: broadcasting both ways, ties, signs, zeros, and
the unary math functions inside their domains."""


from tests.kernel_cases import KernelCase


def _randn(rng, dtype, *shape):
    return rng.standard_normal(shape).astype(dtype)


def _pair(shape_a, shape_b, make=_randn):
    def build(rng, dtype):
        return (make(rng, dtype, *shape_a), make(rng, dtype, *shape_b)), {}
    return build


def _away_from_zero(rng, dtype, *shape):
    return (rng.uniform(0.5, 2.0, shape) * rng.choice([-1, 1], shape)).astype(dtype)


def _positive(rng, dtype, *shape):
    return rng.uniform(0.2, 3.0, shape).astype(dtype)


def _small_ints(rng, dtype, *shape):
    return rng.integers(-2, 3, shape).astype(dtype)  # many ties and zeros


def _divide(rng, dtype):
    return (_randn(rng, dtype, 3, 1, 4), _away_from_zero(rng, dtype, 5, 4)), {}


def _pow_positive(rng, dtype):
    return (_positive(rng, dtype, 2, 3, 4), _randn(rng, dtype, 3, 1)), {}


def _pow_int_exponents(rng, dtype):  # bases <= 0 meet whole exponents: finite, db = 0 there
    return (_small_ints(rng, dtype, 3, 4), rng.integers(1, 4, (1, 4)).astype(dtype)), {}


BROADCAST = ((3, 1, 4), (5, 4))
CASES = [
    *[KernelCase(f"{op}_forward", _pair(*BROADCAST), "broadcast")
      for op in ("add", "sub", "mul", "maximum", "minimum")],
    *[KernelCase(f"{op}_forward", _pair((2, 3), (2, 3)), "same-shape")
      for op in ("add", "mul")],
    KernelCase("sub_forward", _pair((4,), (2, 3, 1)), "both-broadcast"),
    KernelCase("div_forward", _divide, "broadcast"),
    KernelCase("pow_forward", _pow_positive, "positive-base"),
    KernelCase("pow_forward", _pow_int_exponents, "int-exponents"),
    *[KernelCase(f"{op}_forward", _pair((2, 5), (2, 5), _small_ints), "ties")
      for op in ("maximum", "minimum")],
    KernelCase("neg_forward", lambda r, d: ((_randn(r, d, 3, 7),), {})),
    KernelCase("exp_forward", lambda r, d: ((_randn(r, d, 3, 7) * 3,), {})),
    KernelCase("log_forward", lambda r, d: ((_positive(r, d, 3, 7),), {})),
    KernelCase("sqrt_forward", lambda r, d: ((_positive(r, d, 3, 7),), {})),
    KernelCase("abs_forward", lambda r, d: ((_small_ints(r, d, 3, 7),), {}), "zeros"),
    KernelCase("clamp_forward", lambda r, d: ((_randn(r, d, 4, 5),), {"min": -0.5, "max": 0.7}),
               "both"),
    KernelCase("clamp_forward", lambda r, d: ((_randn(r, d, 4, 5),), {"min": 0.1}), "min"),
    KernelCase("clamp_forward", lambda r, d: ((_small_ints(r, d, 4, 5),), {"max": 0.0}),
               "max-ties"),
    *[KernelCase(f"{op}_forward", lambda r, d: ((_randn(r, d, 3, 7),), {}))
      for op in ("sin", "cos", "atan", "sinh", "cosh")],
    *[KernelCase(f"{op}_forward", lambda r, d: ((r.uniform(-0.9, 0.9, (3, 7)).astype(d),), {}))
      for op in ("tan", "asin", "acos", "log1p", "expm1")],
    *[KernelCase(f"{op}_forward", lambda r, d: ((_positive(r, d, 3, 7),), {}))
      for op in ("log2", "log10", "rsqrt")],
    KernelCase("reciprocal_forward", lambda r, d: ((_away_from_zero(r, d, 3, 7),), {})),
]
