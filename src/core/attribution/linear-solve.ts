/**
 * Dense LU factorisation with partial pivoting, for the small systems of attribution models
 * (one row per channel). Factor once, then solve for several right-hand sides, which is what the
 * Markov removal effects need: the absorption probabilities and one row and the diagonal of
 * the fundamental matrix, without forming an inverse.
 */

export interface LuFactors {
  readonly n: number;
  /** L (unit diagonal, below) and U (on and above) packed row-major. */
  readonly lu: Float64Array;
  readonly pivot: Int32Array;
}

/** Factors the n×n row-major matrix `a` (not modified). Throws when it is singular. */
export function luFactor(a: Float64Array, n: number): LuFactors {
  const lu = Float64Array.from(a);
  const pivot = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    let p = k;
    let best = Math.abs(lu[k * n + k] as number);
    for (let i = k + 1; i < n; i++) {
      const v = Math.abs(lu[i * n + k] as number);
      if (v > best) {
        best = v;
        p = i;
      }
    }
    if (best === 0) throw new Error(`singular matrix at column ${k}`);
    pivot[k] = p;
    if (p !== k) {
      for (let j = 0; j < n; j++) {
        const t = lu[k * n + j] as number;
        lu[k * n + j] = lu[p * n + j] as number;
        lu[p * n + j] = t;
      }
    }
    const d = lu[k * n + k] as number;
    for (let i = k + 1; i < n; i++) {
      const f = (lu[i * n + k] as number) / d;
      if (f === 0) continue;
      lu[i * n + k] = f;
      for (let j = k + 1; j < n; j++) lu[i * n + j] = (lu[i * n + j] as number) - f * (lu[k * n + j] as number);
    }
  }
  return { n, lu, pivot };
}

/** Solves A x = b. */
export function luSolve(f: LuFactors, b: ArrayLike<number>): Float64Array {
  const { n, lu, pivot } = f;
  const x = Float64Array.from(b);
  for (let k = 0; k < n; k++) {
    const p = pivot[k] as number;
    if (p !== k) {
      const t = x[k] as number;
      x[k] = x[p] as number;
      x[p] = t;
    }
  }
  for (let i = 0; i < n; i++) {
    let s = x[i] as number;
    for (let j = 0; j < i; j++) s -= (lu[i * n + j] as number) * (x[j] as number);
    x[i] = s;
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = x[i] as number;
    for (let j = i + 1; j < n; j++) s -= (lu[i * n + j] as number) * (x[j] as number);
    x[i] = s / (lu[i * n + i] as number);
  }
  return x;
}

/** Solves Aᵀ y = b (PA = LU ⇒ Aᵀ = Uᵀ Lᵀ P). */
export function luSolveTransposed(f: LuFactors, b: ArrayLike<number>): Float64Array {
  const { n, lu, pivot } = f;
  const y = Float64Array.from(b);
  for (let i = 0; i < n; i++) {
    let s = y[i] as number;
    for (let j = 0; j < i; j++) s -= (lu[j * n + i] as number) * (y[j] as number);
    y[i] = s / (lu[i * n + i] as number);
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i] as number;
    for (let j = i + 1; j < n; j++) s -= (lu[j * n + i] as number) * (y[j] as number);
    y[i] = s;
  }
  for (let k = n - 1; k >= 0; k--) {
    const p = pivot[k] as number;
    if (p !== k) {
      const t = y[k] as number;
      y[k] = y[p] as number;
      y[p] = t;
    }
  }
  return y;
}
