// Noise-level conditioning: the sinusoidal sigma features and the small
// matrix-vector products of sigma_map and of every adaLN modulation. sigma
// is read from device memory so one captured graph serves every step.
#include "common.cuh"

// sigma_features writes [cos(sigma f_k), sin(sigma f_k)], f_k =
// exp(-ln(10000) k / 128), k < 128, computed in double as the CPU reference.
extern "C" __global__ void sigma_features(float *out, const float *sigma) {
  int k = threadIdx.x;
  if (k >= 128) return;
  double f = exp(-log(10000.0) * (double)k / 128.0);
  double s, c;
  sincos((double)sigma[0] * f, &s, &c);
  out[k] = (float)c;
  out[128 + k] = (float)s;
}

// linear_vec computes out[i] = act(bias[i] + sum_j W[i][j] in[j]), W bf16
// [n, k] row-major, act = SiLU when silu_out is set. One warp per output row.
extern "C" __global__ void linear_vec(float *out, const bf16 *W, const float *bias, const float *in, int n, int k,
                                      int silu_out) {
  int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= n) return;
  const bf16 *w = W + (long long)row * k;
  float acc = 0.0f;
  for (int j = lane; j < k; j += 32) {
    acc += __bfloat162float(w[j]) * in[j];
  }
  acc = warp_sum(acc);
  if (lane == 0) {
    acc += bias[row];
    out[row] = silu_out ? silu(acc) : acc;
  }
}
