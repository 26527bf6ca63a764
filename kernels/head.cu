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
// The logits are only read: pass 1 finds the maximum and the softmax sum
// together (online rescaling), and p_i = exp((z_i - max)/T) / sum is
// recomputed wherever it is needed, so a row costs two coalesced passes when
// no top-k/top-p is asked for: max and sum, then kept mass, entropy
// (ln Z - sum p ln p / Z) and the top lists. Each of the 8 warps owns a
// contiguous eighth of the vocabulary, so the inverse CDF can scan in
// vocabulary order with warp prefix sums. Output per row, HEAD_OUT_WORDS
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

// block_sum adds v over the block (HEAD_THREADS threads); every thread gets
// the total. T is double for probability mass, int for counts.
template <typename T>
__device__ T block_sum(T v, T *scratch) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < HEAD_THREADS / 32 ? scratch[lane] : T(0);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Softmax is the softmax of one row: p_i = exp((logit_i + bias_i - max) / T) / sum.
struct Softmax {
  const float *logit, *bias;
  int mask_id;
  float max, invT, rinv;
  __device__ __forceinline__ float p(int i) const {
    return i == mask_id ? 0.0f : expf((logit[i] + bias[i] - max) * invT) * rinv;
  }
};

// select_threshold returns the largest kept value t (kept: bits of p >=
// thr_bits) such that the weight of kept values >= t reaches target; weight
// is 1 (by_mass = 0) or the value itself. Returns thr_bits when even all
// kept values fall short (rounding), which keeps everything, as the CPU does.
__device__ unsigned select_threshold(const Softmax &sm, int n, unsigned thr_bits, double target, int by_mass,
                                     double *bins) {
  unsigned prefix = 0, prefix_mask = 0;
  double above = 0.0;  // weight of kept values whose bits exceed the prefix found so far
  for (int shift = 24; shift >= 0; shift -= 8) {
    __syncthreads();
    for (int b = threadIdx.x; b < 256; b += blockDim.x) bins[b] = 0.0;
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
      float p = sm.p(i);
      unsigned bits = __float_as_uint(p);
      if (bits >= thr_bits && (bits & prefix_mask) == prefix) atomicAdd(&bins[(bits >> shift) & 255u], by_mass ? (double)p : 1.0);
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
    sample_head(const float *logits, int ldl, const float *bias, int V, int mask_id, float temperature, int top_k,
                float top_p, int top_n, const float *uniform, int *out) {
  __shared__ double dscratch[256];
  __shared__ double warp_mass[HEAD_THREADS / 32];
  __shared__ float sv[32];
  __shared__ int si[32];
  __shared__ float top_v[HEAD_MAX_TOP * HEAD_THREADS];
  __shared__ int top_i[HEAD_MAX_TOP * HEAD_THREADS];
  __shared__ int found;
  const int r = blockIdx.x, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const float *e = logits + (long long)r * ldl;
  int *o = out + r * HEAD_OUT_WORDS;

  // 1. Maximum (lowest index on ties) of z = logit + bias, the softmax sum
  // relative to a running maximum, and bad values.
  const float invT = temperature > 0.0f ? 1.0f / temperature : 1.0f;
  float mx = -INFINITY, s = 0.0f;
  int arg = -1, bad = -1;
  for (int i = tid; i < V; i += blockDim.x) {
    if (i == mask_id) continue;
    float z = e[i] + bias[i];
    if (bad < 0 && (isnan(z) || (isinf(z) && z > 0))) bad = i;
    if (z > mx) {  // i increases: the first maximum stays
      s = s * expf((mx - z) * invT) + 1.0f;
      mx = z, arg = i;
    } else {
      s += expf((z - mx) * invT);
    }
  }
  if (block_sum(bad >= 0 ? 1 : 0, si)) {
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
  const double sum = block_sum(arg < 0 ? 0.0 : (double)s * exp((double)(mx - am.v) * invT), dscratch);
  const Softmax sm{e, bias, mask_id, am.v, invT, (float)(1.0 / sum)};

  // 2. Thresholds (bits of the smallest kept p; 1 keeps p > 0).
  unsigned thr = 1u;
  if (top_k > 0 && top_k < V) {
    int c = 0;
    for (int i = tid; i < V; i += blockDim.x) c += __float_as_uint(sm.p(i)) >= thr;
    if (top_k < block_sum(c, si)) thr = max(thr, select_threshold(sm, V, thr, (double)top_k, 0, dscratch));
  }
  if (top_p > 0.0f && top_p < 1.0f) {
    double m = 0.0;
    for (int i = tid; i < V; i += blockDim.x) {
      float p = sm.p(i);
      if (__float_as_uint(p) >= thr) m += p;
    }
    double mass = block_sum(m, dscratch);
    thr = max(thr, select_threshold(sm, V, thr, (double)top_p * mass, 1, dscratch));
  }

  // 3. One pass over each warp's segment: kept mass, sum p ln p, the last
  // kept token and each thread's top list.
  const int seg = ((V + HEAD_THREADS / 32 - 1) / (HEAD_THREADS / 32) + 31) / 32 * 32;
  const int lo = min(V, warp * seg), hi = min(V, lo + seg);
  double kept = 0.0, plogp = 0.0;
  int last = -1;
  float tv[HEAD_MAX_TOP];
  int ti[HEAD_MAX_TOP];
#pragma unroll
  for (int k = 0; k < HEAD_MAX_TOP; k++) tv[k] = 0.0f, ti[k] = -1;
  for (int i = lo + lane; i < hi; i += 32) {
    float p = sm.p(i);
    if (__float_as_uint(p) < thr) continue;
    kept += p;
    plogp += p * logf(p);
    last = i;
    if (better(p, i, tv[HEAD_MAX_TOP - 1], ti[HEAD_MAX_TOP - 1])) {
      tv[HEAD_MAX_TOP - 1] = p, ti[HEAD_MAX_TOP - 1] = i;
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
  double wk = kept;
#pragma unroll
  for (int o2 = 16; o2 > 0; o2 >>= 1) wk += __shfl_xor_sync(0xffffffffu, wk, o2);
  if (lane == 0) warp_mass[warp] = wk;
  if (tid == 0) found = 0x7fffffff;
  const double Z = block_sum(kept, dscratch);  // its barriers also publish warp_mass and found
  const double entropy = log(Z) - block_sum(plogp, dscratch) / Z;
  ArgMax lastk = block_argmax(last >= 0 ? (float)last : -INFINITY, last, sv, si);

  // 4. The token: argmax, or the inverse CDF in vocabulary order. The warp
  // whose segment holds the crossing scans it 32 tokens at a time; so does
  // the next one, in case rounding left the crossing just past the segment.
  int token = am.i;
  if (temperature > 0.0f) {
    const double target = (double)uniform[r] * Z;
    double base = 0.0, prev_base = -1.0;
    for (int w = 0; w < warp; w++) prev_base = base, base += warp_mass[w];
    bool holds = base <= target && base + warp_mass[warp] > target;
    bool next = base > target && (warp == 0 || prev_base <= target);
    if (holds || next) {
      for (int c0 = lo; c0 < hi; c0 += 32) {
        int i = c0 + lane;
        double v = 0.0;
        if (i < hi) {
          float p = sm.p(i);
          if (__float_as_uint(p) >= thr) v = p;
        }
        double cum = v;
#pragma unroll
        for (int o2 = 1; o2 < 32; o2 <<= 1) {
          double u = __shfl_up_sync(0xffffffffu, cum, o2);
          if (lane >= o2) cum += u;
        }
        unsigned crossed = __ballot_sync(0xffffffffu, v > 0.0 && base + cum > target);
        if (crossed) {
          if (lane == 0) atomicMin(&found, c0 + __ffs(crossed) - 1);
          break;
        }
        base += __shfl_sync(0xffffffffu, cum, 31);
      }
    }
    __syncthreads();
    token = found != 0x7fffffff ? found : lastk.i;
  }

  // 5. Merge the top lists: topN rounds of a block-wide argmax.
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
    float q = w.i >= 0 ? (float)((double)w.v / Z) : 0.0f;
    if (tid == 0) {
      o[4 + k] = w.i;
      reinterpret_cast<float *>(o)[12 + k] = q;
    }
    if (k == 0) top1 = q;
    if (k == 1) top2 = q;
  }
  if (tid == 0) {
    for (int k = want; k < HEAD_MAX_TOP; k++) o[4 + k] = -1, reinterpret_cast<float *>(o)[12 + k] = 0.0f;
    float *of = reinterpret_cast<float *>(o);
    o[0] = token;
    of[1] = (float)((double)sm.p(token) / Z);
    of[2] = top1 - top2;
    of[3] = (float)fmax(entropy, 0.0);
  }
}
