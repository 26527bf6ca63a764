// Output-head sampling on the GPU, one block per queried row, so only a
// handful of numbers per position cross to the host. Mirrors
// kernels.SampleHead (kernels/head.go) step for step:
//  1. z = logits + bias, z[mask] = -inf, padded columns (>= V) excluded;
//     T = temperature, or 1 when temperature <= 0; p = softmax(z/T).
//  2. kept = {p > 0}; top-k keeps p >= the k-th largest p; then top-p keeps
//     p >= the largest threshold whose kept mass is >= topP * (mass so far).
//     Both thresholds are found exactly by a most-significant-digit-first
//     radix select over the float bits (p >= 0, so bit order = value order):
//     4 passes of 8-bit digits, counting (top-k) or summing mass (top-p).
//  3. p' = p / Z' over kept tokens.
//  4. greedy: argmax z, lowest index on ties; otherwise the smallest kept i
//     with the running sum of kept p (vocabulary order) > u * Z', else the
//     last kept token.
//  5. prob = p'(token), margin = top1 - top2, entropy = -sum p' ln p', and
//     the topN most likely kept tokens (ties by lower index).
// The row of logits is overwritten with p. Output per row, HEAD_OUT_WORDS
// 32-bit words: [0] token (int; -1 = no finite logit, <= -2 = the logit of
// token -2-w is NaN or +inf), [1] prob, [2] margin, [3] entropy, [4..12)
// top tokens (int, -1 when fewer were kept), [12..20) their p'.
#include "common.cuh"

#define HEAD_THREADS 256
#define HEAD_MAX_TOP 8
#define HEAD_OUT_WORDS 20

struct ArgMax {
  float v;
  int i;
};

// better: larger value, then lower index; i < 0 marks an empty slot.
__device__ __forceinline__ bool better(float v, int i, float w, int j) {
  if (j < 0) return i >= 0;
  if (i < 0) return false;
  return v > w || (v == w && i < j);
}

__device__ ArgMax block_argmax(float v, int i, float *sv, int *si) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    float w = __shfl_xor_sync(0xffffffffu, v, o);
    int j = __shfl_xor_sync(0xffffffffu, i, o);
    if (better(w, j, v, i)) v = w, i = j;
  }
  __syncthreads();
  if (lane == 0) sv[warp] = v, si[warp] = i;
  __syncthreads();
  v = lane < HEAD_THREADS / 32 ? sv[lane] : 0.0f;
  i = lane < HEAD_THREADS / 32 ? si[lane] : -1;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    float w = __shfl_xor_sync(0xffffffffu, v, o);
    int j = __shfl_xor_sync(0xffffffffu, i, o);
    if (better(w, j, v, i)) v = w, i = j;
  }
  return ArgMax{v, i};
}

__device__ double block_sum_d(double v, double *scratch) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < HEAD_THREADS / 32 ? scratch[lane] : 0.0;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ int block_sum_i(int v, int *scratch) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < HEAD_THREADS / 32 ? scratch[lane] : 0;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// select_threshold returns the largest kept value t (kept: bits >= thr_bits)
// such that the weight of kept values >= t reaches target; weight is 1
// (by_mass = 0) or the value itself. Returns thr_bits when even all kept
// values fall short (rounding), which keeps everything, as the CPU does.
__device__ unsigned select_threshold(const float *p, int n, unsigned thr_bits, double target, int by_mass,
                                     double *bins) {
  unsigned prefix = 0, prefix_mask = 0;
  double above = 0.0;  // weight of kept values whose bits exceed the prefix found so far
  for (int shift = 24; shift >= 0; shift -= 8) {
    __syncthreads();
    for (int b = threadIdx.x; b < 256; b += blockDim.x) bins[b] = 0.0;
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
      unsigned bits = __float_as_uint(p[i]);
      if (bits >= thr_bits && (bits & prefix_mask) == prefix)
        atomicAdd(&bins[(bits >> shift) & 255u], by_mass ? (double)p[i] : 1.0);
    }
    __syncthreads();
    // Every thread walks the 256 bins identically (they are in shared memory).
    int digit = -1;
    for (int b = 255; b >= 0; b--) {
      if (above + bins[b] >= target) {
        digit = b;
        break;
      }
      above += bins[b];
    }
    if (digit < 0) return thr_bits;
    prefix |= (unsigned)digit << shift;
    prefix_mask |= 255u << shift;
  }
  return prefix;
}

extern "C" __global__ void __launch_bounds__(HEAD_THREADS)
    sample_head(float *logits, int ldl, const float *bias, int V, int mask_id, float temperature, int top_k,
                float top_p, int top_n, const float *uniform, int *out) {
  __shared__ double dscratch[256];
  __shared__ float sv[32];
  __shared__ int si[32];
  __shared__ float top_v[HEAD_MAX_TOP * HEAD_THREADS];
  __shared__ int top_i[HEAD_MAX_TOP * HEAD_THREADS];
  __shared__ int found;
  const int r = blockIdx.x, tid = threadIdx.x;
  float *p = logits + (long long)r * ldl;
  int *o = out + r * HEAD_OUT_WORDS;

  // 1. logits -> z (kept in p for now), argmax, bad-value check.
  float mx = -INFINITY;
  int arg = -1, bad = -1;
  for (int i = tid; i < V; i += blockDim.x) {
    float z = i == mask_id ? -INFINITY : p[i] + bias[i];
    if (isnan(z) || (isinf(z) && z > 0)) bad = bad < 0 ? i : bad;
    p[i] = z;
    if (z > mx) mx = z, arg = i;  // i increases: the first maximum stays
  }
  int bad_any = block_sum_i(bad >= 0 ? 1 : 0, si);
  if (bad_any) {
    // Report the lowest offending index, as the CPU's loop would meet it first.
    ArgMax b = block_argmax(bad >= 0 ? (float)-bad : -INFINITY, bad, sv, si);
    if (tid == 0) o[0] = -2 - b.i;
    return;
  }
  ArgMax am = block_argmax(mx, arg, sv, si);
  if (am.i < 0 || isinf(am.v)) {
    if (tid == 0) o[0] = -1;
    return;
  }
  mx = am.v;
  float T = temperature > 0.0f ? temperature : 1.0f;
  double s = 0.0;
  for (int i = tid; i < V; i += blockDim.x) s += exp(((double)p[i] - (double)mx) / T);
  double sum = block_sum_d(s, dscratch);
  for (int i = tid; i < V; i += blockDim.x) p[i] = (float)(exp(((double)p[i] - (double)mx) / T) / sum);

  // 2. thresholds.
  unsigned thr = 1u;  // bits of the smallest positive float: keeps p > 0
  if (top_k > 0 && top_k < V) {
    int c = 0;
    for (int i = tid; i < V; i += blockDim.x) c += __float_as_uint(p[i]) >= thr;
    int n = block_sum_i(c, si);
    if (top_k < n) thr = max(thr, select_threshold(p, V, thr, (double)top_k, 0, dscratch));
  }
  if (top_p > 0.0f && top_p < 1.0f) {
    double m = 0.0;
    for (int i = tid; i < V; i += blockDim.x)
      if (__float_as_uint(p[i]) >= thr) m += p[i];
    double mass = block_sum_d(m, dscratch);
    thr = max(thr, select_threshold(p, V, thr, (double)top_p * mass, 1, dscratch));
  }

  // 3.-5. Each thread owns a contiguous segment so the inverse CDF can scan
  // in vocabulary order; it also keeps its local top list and entropy terms.
  const int seg = (V + blockDim.x - 1) / blockDim.x, lo = min(V, tid * seg), hi = min(V, lo + seg);
  double kept = 0.0;
  int last = -1;
  for (int i = lo; i < hi; i++)
    if (__float_as_uint(p[i]) >= thr) kept += p[i], last = i;
  // Exclusive prefix of the segment masses (thread order = vocabulary order).
  __syncthreads();
  dscratch[tid] = kept;
  __syncthreads();
  if (tid == 0) {
    double run = 0.0;
    for (int t = 0; t < (int)blockDim.x; t++) {
      double v = dscratch[t];
      dscratch[t] = run;
      run += v;
    }
    found = 0x7fffffff;
  }
  __syncthreads();
  double prefix = dscratch[tid];
  double Z = block_sum_d(kept, dscratch + 0);  // block_sum_d syncs before reusing dscratch
  ArgMax lastk = block_argmax(last >= 0 ? (float)last : -INFINITY, last, sv, si);
  int token = am.i;
  if (temperature > 0.0f) {
    double target = (double)uniform[r] * Z, cum = prefix;
    if (cum + kept > target) {
      for (int i = lo; i < hi; i++) {
        if (__float_as_uint(p[i]) < thr) continue;
        cum += p[i];
        if (cum > target) {
          atomicMin(&found, i);
          break;
        }
      }
    }
    __syncthreads();
    token = found != 0x7fffffff ? found : lastk.i;
  }

  float tv[HEAD_MAX_TOP];
  int ti[HEAD_MAX_TOP];
#pragma unroll
  for (int k = 0; k < HEAD_MAX_TOP; k++) tv[k] = 0.0f, ti[k] = -1;
  double ent = 0.0;
  for (int i = lo; i < hi; i++) {
    float pi = p[i];
    if (__float_as_uint(pi) < thr) continue;
    double q = (double)pi / Z;
    ent -= q * log(q);
    float qf = (float)q;
    if (better(qf, i, tv[HEAD_MAX_TOP - 1], ti[HEAD_MAX_TOP - 1])) {
      tv[HEAD_MAX_TOP - 1] = qf, ti[HEAD_MAX_TOP - 1] = i;
#pragma unroll
      for (int k = HEAD_MAX_TOP - 1; k > 0; k--) {
        if (better(tv[k], ti[k], tv[k - 1], ti[k - 1])) {
          float fv = tv[k];
          int fi = ti[k];
          tv[k] = tv[k - 1], ti[k] = ti[k - 1];
          tv[k - 1] = fv, ti[k - 1] = fi;
        }
      }
    }
  }
  double entropy = block_sum_d(ent, dscratch);
#pragma unroll
  for (int k = 0; k < HEAD_MAX_TOP; k++) top_v[k * HEAD_THREADS + tid] = tv[k], top_i[k * HEAD_THREADS + tid] = ti[k];
  __syncthreads();
  int head = 0, want = max(top_n, 2);
  float top1 = 0.0f, top2 = 0.0f;  // p' of the two most likely kept tokens (0 when absent)
  for (int k = 0; k < want && k < HEAD_MAX_TOP; k++) {
    float v = head < HEAD_MAX_TOP ? top_v[head * HEAD_THREADS + tid] : 0.0f;
    int i = head < HEAD_MAX_TOP ? top_i[head * HEAD_THREADS + tid] : -1;
    ArgMax w = block_argmax(v, i, sv, si);
    if (w.i >= 0 && w.i == i) head++;
    if (tid == 0) {
      o[4 + k] = w.i;
      reinterpret_cast<float *>(o)[12 + k] = w.i >= 0 ? w.v : 0.0f;
    }
    if (k == 0) top1 = w.i >= 0 ? w.v : 0.0f;
    if (k == 1) top2 = w.i >= 0 ? w.v : 0.0f;
  }
  if (tid == 0) {
    for (int k = want; k < HEAD_MAX_TOP; k++) o[4 + k] = -1, reinterpret_cast<float *>(o)[12 + k] = 0.0f;
    float *of = reinterpret_cast<float *>(o);
    o[0] = token;
    of[1] = (float)((double)p[token] / Z);
    of[2] = top1 - top2;
    of[3] = (float)entropy;
  }
}
