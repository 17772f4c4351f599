"""Benchmark rbfopt.grid against its peers in the same process.

1-D: n grid points, m queries — build + evaluate (ours, scipy CubicSpline, interpax
interp1d 'cubic2' = C² spline), and our adjoint apply vs our forward evaluation.
2-D: n×n grid, m queries — ours vs scipy RegularGridInterpolator(method='cubic') and
interpax.interp2d('cubic2').  JAX timings are taken after compilation (first call,
reported separately as compile time) with ``block_until_ready``; each figure is the
best of ``--repeat`` runs.  Ratios > 1 mean ours is faster.

    python scripts/bench_grid.py            # n=10 000, m=10⁶; 500×500, m=10⁶
    python scripts/bench_grid.py --quick    # smaller sizes, seconds
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _best(fn, repeat: int) -> float:
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def _jax_timing(fn, repeat: int) -> tuple[float, float]:
    """(compile + first run − steady run, steady run) for a jitted ``fn``."""
    t0 = time.perf_counter()
    fn().block_until_ready()
    first = time.perf_counter() - t0
    run = _best(lambda: fn().block_until_ready(), repeat)
    return max(first - run, 0.0), run


def _row(name: str, t: float, ref: float | None = None, compile_s: float | None = None) -> None:
    extra = f"   compile {compile_s * 1e3:8.1f} ms" if compile_s is not None else ""
    ratio = f"   ours is {t / ref:5.2f}x faster" if ref is not None else ""
    print(f"  {name:<44s} {t * 1e3:9.2f} ms{ratio}{extra}")


def bench_1d(n: int, m: int, repeat: int) -> None:
    import interpax
    import jax
    import jax.numpy as jnp
    from scipy.interpolate import CubicSpline

    import rbfopt.grid as grid

    rng = np.random.default_rng(0)
    x = np.linspace(0.0, 10.0, n)
    f = np.sin(x) + 0.1 * np.cos(7 * x)
    xq = rng.uniform(0.0, 10.0, m)
    xj, fj, xqj = jnp.asarray(x), jnp.asarray(f), jnp.asarray(xq)
    print(f"1-D cubic spline, n = {n}, m = {m} (uniform grid, random queries)")

    ours = jax.jit(lambda f, q: grid.cubic_interp(x, f, bc=grid.NotAKnot())(q))
    c_ours, t_ours = _jax_timing(lambda: ours(fj, xqj), repeat)
    t_scipy = _best(lambda: CubicSpline(x, f, bc_type="not-a-knot")(xq), repeat)
    ipx = jax.jit(lambda q, f: interpax.interp1d(q, xj, f, method="cubic2", even_spacing=True))
    c_ipx, t_ipx = _jax_timing(lambda: ipx(xqj, fj), repeat)
    ref = np.asarray(CubicSpline(x, f, bc_type="not-a-knot")(xq))
    err = float(np.max(np.abs(np.asarray(ours(fj, xqj)) - ref)))
    _row("rbfopt.grid.cubic_interp build+eval", t_ours, compile_s=c_ours)
    _row("scipy CubicSpline build+eval", t_scipy, t_ours)
    _row("interpax.interp1d cubic2 build+eval", t_ipx, t_ours, compile_s=c_ipx)
    print(f"  max |ours - scipy| = {err:.2e}")

    xn = np.sort(np.concatenate([[0.0, 10.0], rng.uniform(0, 10, n - 2)]))
    fn_ = np.sin(xn)
    ours_nu = jax.jit(lambda f, q: grid.cubic_interp(xn, f, bc=grid.NotAKnot())(q))
    c_nu, t_nu = _jax_timing(lambda: ours_nu(jnp.asarray(fn_), xqj), repeat)
    t_scipy_nu = _best(lambda: CubicSpline(xn, fn_)(xq), repeat)
    _row("ours, NON-uniform grid build+eval", t_nu, compile_s=c_nu)
    _row("scipy CubicSpline, non-uniform", t_scipy_nu, t_nu)

    # Adjoint apply vs forward evaluation (both with the queries baked in).
    itp = grid.cubic_interp(x, fj, bc=grid.NotAKnot())
    adj = grid.cubic_adjoint(x, xq, bc=grid.NotAKnot())
    ybar = jnp.asarray(rng.normal(size=m))
    fwd = jax.jit(lambda itp, q: itp(q))
    c_f, t_f = _jax_timing(lambda: fwd(itp, xqj), repeat)
    app = jax.jit(lambda a, yb: a(yb))
    c_a, t_a = _jax_timing(lambda: app(adj, ybar), repeat)

    def pullback(f, yb):
        return jax.vjp(lambda g: grid.cubic_interp(x, g, bc=grid.NotAKnot())(xqj), f)[1](yb)[0]

    vjp = jax.jit(pullback)
    c_v, t_v = _jax_timing(lambda: vjp(fj, ybar), repeat)
    _row("ours forward eval itp(xq)", t_f, compile_s=c_f)
    _row("ours adjoint apply adj(ybar)", t_a, compile_s=c_a)
    _row("ours jax.vjp w.r.t. f (fwd + pullback)", t_v, compile_s=c_v)
    print(f"  adjoint / forward = {t_a / t_f:.2f} (target ≤ 2)")


def bench_2d(n: int, m: int, repeat: int, rgi_max: int) -> None:
    import interpax
    import jax
    import jax.numpy as jnp
    from scipy.interpolate import RegularGridInterpolator

    import rbfopt.grid as grid

    rng = np.random.default_rng(1)
    x = np.linspace(0.0, 1.0, n)
    y = np.linspace(-1.0, 1.0, n)
    F = np.sin(3 * x)[:, None] * np.cos(2 * y)[None, :]
    xq, yq = rng.uniform(0, 1, m), rng.uniform(-1, 1, m)
    Fj, xqj, yqj = jnp.asarray(F), jnp.asarray(xq), jnp.asarray(yq)
    print(f"2-D cubic, {n}x{n} grid, m = {m}")

    ours = jax.jit(lambda F, a, b: grid.cubic_interp((x, y), F, bc=grid.NotAKnot())((a, b)))
    c_ours, t_ours = _jax_timing(lambda: ours(Fj, xqj, yqj), repeat)
    _row("rbfopt.grid.cubic_interp 2-D build+eval", t_ours, compile_s=c_ours)

    # RegularGridInterpolator 'cubic' is slow per point; time it on at most rgi_max
    # queries and scale linearly to m (stated in the row).
    mr = min(m, rgi_max)
    pts = np.stack([xq[:mr], yq[:mr]], axis=-1)
    t_rgi = _best(lambda: RegularGridInterpolator((x, y), F, method="cubic")(pts), 1) * m / mr
    label = "scipy RegularGridInterpolator cubic" + (f" (×{m / mr:.0f})" if mr < m else "")
    _row(label, t_rgi, t_ours)
    ref = RegularGridInterpolator((x, y), F, method="cubic")(pts[:1000])
    err = float(np.max(np.abs(np.asarray(ours(Fj, xqj[:1000], yqj[:1000])) - ref)))

    xj, yj = jnp.asarray(x), jnp.asarray(y)
    ipx = jax.jit(
        lambda a, b, F: interpax.interp2d(a, b, xj, yj, F, method="cubic2", even_spacing=True)
    )
    c_ipx, t_ipx = _jax_timing(lambda: ipx(xqj, yqj, Fj), repeat)
    _row("interpax.interp2d cubic2 build+eval", t_ipx, t_ours, compile_s=c_ipx)
    print(f"  max |ours - RGI cubic| = {err:.2e} (RGI: not-a-knot spline)")

    itp = grid.cubic_interp((x, y), Fj, bc=grid.NotAKnot())
    adj = grid.cubic_adjoint((x, y), (xq, yq), bc=grid.NotAKnot())
    ybar = jnp.asarray(rng.normal(size=m))
    fwd = jax.jit(lambda i, a, b: i((a, b)))
    app = jax.jit(lambda a, yb: a(yb))
    c_f, t_f = _jax_timing(lambda: fwd(itp, xqj, yqj), repeat)
    c_a, t_a = _jax_timing(lambda: app(adj, ybar), repeat)
    _row("ours 2-D forward eval", t_f, compile_s=c_f)
    _row("ours 2-D adjoint apply", t_a, compile_s=c_a)
    print(f"  adjoint / forward = {t_a / t_f:.2f}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    import jax

    import rbfopt  # noqa: F401  (enables float64)

    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPU cores")
    if args.quick:
        bench_1d(1_000, 100_000, args.repeat)
        bench_2d(100, 100_000, args.repeat, rgi_max=20_000)
    else:
        bench_1d(10_000, 1_000_000, args.repeat)
        bench_2d(500, 1_000_000, args.repeat, rgi_max=100_000)


if __name__ == "__main__":
    main()
