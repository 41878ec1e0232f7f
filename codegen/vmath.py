"""Elementary functions that LLVM can vectorise: exp, expm1, log, log1p, sin,
cos and tanh for ``@njit`` loops; and erfinv, which libm lacks (scalar code,
see :func:`verfinv`).

Numba emits ``math.exp`` and friends as scalar libm calls, and a loop that
calls a function cannot be vectorised: a fused loop of transcendentals then
runs several times slower than NumPy's SIMD ufuncs. These versions are
branch-free (range reduction, a polynomial, the exponent set through the
float's bits), so once LLVM inlines them into a kernel's loop the loop
vectoriser turns them into AVX code. They compute in float64 (a float32
argument is widened; the caller rounds the result) and follow IEEE: nan in,
nan out; inf, signed zeros and subnormal results as NumPy gives them. Errors
are within a couple of ulp of the correctly rounded value
(tests/test_vmath.py measures them against NumPy over the whole range).

sin and cos reduce the argument exactly for |x| < 2**50 (a Cody-Waite
reduction by pi/2 in four parts with fused multiply-adds); beyond that the
doubles are more than 0.25 apart and the result would need a multi-word
reduction, so these return nan there and :data:`SIN_COS_LIMIT` lets a caller
use ``math.sin`` / ``math.cos`` instead.

The polynomials are truncated Taylor series, long enough that the truncation
error is below 1e-19 of the result on the reduced range.
"""
import math

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .numba_internals import helper
from .runtime import select

SIN_COS_LIMIT = 2.0 ** 50  # |x| below which vsin / vcos reduce exactly


@intrinsic
def _bits(typingctx, x):
    """The IEEE bits of a float64 as an int64 (a bitcast, no conversion)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, n):
    """The float64 whose IEEE bits are the int64 ``n``."""
    if n != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """a*b + c rounded once (the reduction of sin/cos relies on it being exact)."""
    if (a, b, c) != (types.float64,) * 3:
        return None

    def codegen(context, builder, signature, args):
        double = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [double],
                                              ir.FunctionType(double, [double] * 3))
        return builder.call(fn, args)

    return types.float64(types.float64, types.float64, types.float64), codegen


_SHIFTER = 1.5 * 2.0 ** 52  # adding it rounds a double below 2**51 to an integer
_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238  # ln 2 to 32 bits: n * _LN2_HI is exact for |n| < 2**21
_LN2_LO = 1.9082149292705877e-10
_PIO2 = (1.5707963267948966, 6.123233995736766e-17, -1.4973849048591698e-33,
         5.562271104316826e-50)  # pi/2 as a sum of four doubles
_TWO_OVER_PI = 0.6366197723675814


def _taylor(coefficients):
    """Coefficients for Horner's scheme, highest power first."""
    return tuple(reversed(coefficients))


# e^r - 1 - r = r^2/2! + r^3/3! + ... (|r| <= ln2/2), divided by r^2
_EXPM1 = _taylor([1.0 / math.factorial(k) for k in range(2, 15)])
# sin r = r + r^3 (-1/3! + r^2/5! - ...), cos r = 1 - r^2/2 + r^4 (1/4! - ...) (|r| <= pi/4)
_SIN = _taylor([(-1.0) ** k / math.factorial(2 * k + 1) for k in range(1, 9)])
_COS = _taylor([(-1.0) ** k / math.factorial(2 * k) for k in range(2, 10)])
# 2 atanh(s) = 2s + 2s (s^2/3 + s^4/5 + ...) (|s| <= 0.172), divided by 2 s^2
_ATANH = _taylor([1.0 / (2 * k + 1) for k in range(1, 12)])


@helper
def _horner(coefficients, z):
    p = coefficients[0]
    for c in coefficients[1:]:
        p = p * z + c
    return p


@helper
def _pow2(k):
    """2.0**k for integer k with -1022 <= k <= 1023, from its exponent bits."""
    return _from_bits((k + 1023) << 52)


@helper
def _reduce_ln2(x):
    """(n, r, k): x = n ln2 + r with |r| <= ln2/2, n as a float and as an int64 k."""
    t = x * _LOG2E + _SHIFTER
    n = t - _SHIFTER
    r = (x - n * _LN2_HI) - n * _LN2_LO
    return n, r, _bits(t) - _bits(_SHIFTER)


@helper
def vexp(x):
    """e**x.

    >>> abs(vexp(1.0) - math.e) < 1e-15, vexp(-1000.0), vexp(1000.0)
    (True, 0.0, inf)
    """
    x = x * 1.0
    clamped = select(x < 709.8, select(x > -745.2, x, -745.2), 709.8)
    n, r, k = _reduce_ln2(clamped)
    p = 1.0 + (r + r * r * _horner(_EXPM1, r))
    half = k >> 1  # two factors, so that 2**k may be subnormal or 2**1024
    y = p * _pow2(half) * _pow2(k - half)
    return select(x != x, x, y)


@helper
def vexpm1(x):
    """e**x - 1, accurate for small x.

    >>> vexpm1(1e-10), vexpm1(-50.0), vexpm1(-0.0)
    (1.00000000005e-10, -1.0, -0.0)
    """
    x = x * 1.0
    clamped = select(x < 709.8, select(x > -40.0, x, -40.0), 709.8)
    n, r, k = _reduce_ln2(clamped)
    q = r + r * r * _horner(_EXPM1, r)  # e^r - 1
    small_k = select(k < 60, k, 60)
    scale = _pow2(small_k)
    moderate = scale * q + (scale - 1.0)  # 2^k (e^r - 1) + (2^k - 1), no cancellation of q
    half = k >> 1
    large = (q + 1.0) * _pow2(half) * _pow2(k - half) - 1.0
    y = select(k == 0, q, select(k < 60, moderate, large))
    return select((x != x) | (x == 0.0), x, y)  # nan, and zero keeping its sign


@helper
def _log_parts(x):
    """(e, f): x = 2^e (1 + f) with sqrt(1/2) <= 1 + f < sqrt(2), for finite x > 0."""
    tiny = x < 2.2250738585072014e-308  # subnormal: scale into the normal range first
    x = select(tiny, x * 4503599627370496.0, x)
    bits = _bits(x)
    e = ((bits >> 52) & 0x7FF) - select(tiny, 1023 + 52, 1023)
    m = _from_bits((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)  # in [1, 2)
    big = m > 1.4142135623730951
    m = select(big, m * 0.5, m)
    e = select(big, e + 1, e)
    return e * 1.0, m - 1.0


@helper
def _log1p_small(f):
    """log(1 + f) for |f| <= 0.42, from 2 atanh(f / (2 + f))."""
    s = f / (2.0 + f)
    z = s * s
    # 2 atanh(s) = 2s + 2s z A(z) and 2s = f - s f: log(1+f) = f - s (f - 2 z A(z))
    return f - s * (f - 2.0 * z * _horner(_ATANH, z))


@helper
def _log_special(x, y):
    """y where x is finite and positive; else what log gives there."""
    return select(x > 0.0, select(x < math.inf, y, x),
                  select(x == 0.0, -math.inf, math.nan))


@helper
def vlog(x):
    """The natural logarithm.

    >>> vlog(1.0), round(vlog(10.0), 15), vlog(0.0), vlog(-1.0)
    (0.0, 2.302585092994046, -inf, nan)
    """
    x = x * 1.0
    e, f = _log_parts(select(x > 0.0, x, 1.0))
    y = e * _LN2_HI + (_log1p_small(f) + e * _LN2_LO)
    return _log_special(x, y)


@helper
def vlog1p(x):
    """log(1 + x), accurate for small x.

    >>> vlog1p(1e-10), vlog1p(-1.0), vlog1p(-0.0)
    (9.999999999500001e-11, -inf, -0.0)
    """
    x = x * 1.0
    u = 1.0 + x
    e, f = _log_parts(select(u > 0.0, u, 1.0))
    # u is x + 1 rounded; (x - (u - 1)) / u corrects log(u) by the rounding error
    correction = select(e < 54.0, (x - (u - 1.0)) / u, 0.0)
    y = e * _LN2_HI + (_log1p_small(f) + (e * _LN2_LO + correction))
    y = select(x == 0.0, x, y)
    return _log_special(u, y)


@helper
def _reduce_pio2(x):
    """(r, quadrant): x = k pi/2 + r with |r| <= pi/4 and quadrant = k mod 4."""
    t = x * _TWO_OVER_PI + _SHIFTER
    k = t - _SHIFTER
    r = _fma(-k, _PIO2[0], x)  # exact: the result is a multiple of ulp(pi/2) below 2
    r = _fma(-k, _PIO2[1], r)
    r = _fma(-k, _PIO2[2], r)
    r = _fma(-k, _PIO2[3], r)
    return r, (_bits(t) - _bits(_SHIFTER)) & 3


@helper
def _sin_cos_reduced(r):
    z = r * r
    return r + r * z * _horner(_SIN, z), 1.0 - 0.5 * z + z * z * _horner(_COS, z)


@helper
def vsin(x):
    """sin x for |x| < SIN_COS_LIMIT (nan beyond: use math.sin there).

    >>> vsin(0.0), round(vsin(1.0), 15), vsin(math.inf)
    (0.0, 0.841470984807897, nan)
    """
    x = x * 1.0
    r, quadrant = _reduce_pio2(x)
    s, c = _sin_cos_reduced(r)
    y = select(quadrant & 1 == 0, s, c)
    y = select(quadrant & 2 == 0, y, -y)
    y = select(x == 0.0, x, y)  # sin(-0.0) is -0.0
    return select(abs(x) < SIN_COS_LIMIT, y, select(x != x, x, math.nan))


@helper
def vcos(x):
    """cos x for |x| < SIN_COS_LIMIT (nan beyond: use math.cos there).

    >>> vcos(0.0), round(vcos(1.0), 15), vcos(-math.inf)
    (1.0, 0.54030230586814, nan)
    """
    x = x * 1.0
    r, quadrant = _reduce_pio2(x)
    s, c = _sin_cos_reduced(r)
    y = select(quadrant & 1 == 0, c, s)
    y = select((quadrant + 1) & 2 == 0, y, -y)
    return select(abs(x) < SIN_COS_LIMIT, y, select(x != x, x, math.nan))


@helper
def vtanh(x):
    """tanh x, from expm1(2|x|) / (expm1(2|x|) + 2).

    >>> abs(vtanh(0.5) - math.tanh(0.5)) < 1e-16, vtanh(-30.0), vtanh(-0.0)
    (True, -1.0, -0.0)
    """
    x = x * 1.0
    a = select(abs(x) < 20.0, abs(x), 20.0)  # tanh(20) rounds to 1
    em = vexpm1(2.0 * a)
    y = em / (em + 2.0)
    return select((x != x) | (x == 0.0), x, select(x < 0.0, -y, y))


# Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011): erfinv to
# ~1e-7 relative, in w = -log(1 - y^2) (two ranges), then refined below
_ERFINV_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                   0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_ERFINV_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
                0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)
_TWO_OVER_SQRT_PI = 1.1283791670955126


@helper
def verfinv(y):
    """The inverse error function (SciPy's erfinv; libm has none): ±inf at ±1,
    nan beyond. Not branch-free: Giles' approximation, then Halley steps on
    erf(x) = |y| (on erfc(x) = 1 - |y|, exact for |y| >= 1/2, where erf rounds
    to 1), and beyond |y| = 0.9966, where Giles' start is poorer, Newton steps on
    log erfc(x) = log(1 - |y|), which is close to -x**2.

    >>> verfinv(0.0), abs(verfinv(0.5) - 0.4769362762044699) < 1e-15, verfinv(-1.0)
    (0.0, True, -inf)
    """
    y = y * 1.0
    a = abs(y)
    if not a < 1.0:  # 1, beyond 1, or nan
        return select(a == 1.0, math.copysign(math.inf, y), math.nan)
    if a == 0.0:
        return y
    w = -math.log((1.0 - a) * (1.0 + a))
    if w < 5.0:
        x = _horner(_ERFINV_CENTRAL, w - 2.5) * a
        tail = a >= 0.5
        for _ in range(2):
            f = select(tail, (1.0 - a) - math.erfc(x), math.erf(x) - a)  # erf(x) - a
            d = _TWO_OVER_SQRT_PI * math.exp(-x * x)
            x = x - f / (d + x * f)
    else:
        x = _horner(_ERFINV_TAIL, math.sqrt(w) - 3.0) * a
        target = math.log(1.0 - a)
        for _ in range(6):
            c = math.erfc(x)
            x = x + (math.log(c) - target) * c / (_TWO_OVER_SQRT_PI * math.exp(-x * x))
    return math.copysign(x, y)
