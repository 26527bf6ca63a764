// Mamba-2's depthwise causal conv1d followed by SiLU, for both scan
// directions. Forward: out[t][c] = SiLU(bias[c] + sum_k w[c][k] in[t-(K-1)+k][c]),
// in[<0] = 0. reverse != 0 reads the taps from the other end instead of
// flipping the sequence: out[t][c] = SiLU(bias[c] + sum_k w[c][k] in[t+(K-1)-k][c]),
// in[>=L] = 0. in is bf16 strided (row t at in + t*stride), out bf16 [L, C],
// w float32 [C, K]. Rows over blockIdx.y, channels over threads: every tap
// is a coalesced row read (mostly from cache: K consecutive rows).
#include "common.cuh"

extern "C" __global__ void conv1d_silu(bf16 *out, const bf16 *in, int stride, const float *w, const float *bias,
                                       int L, int C, int K, int reverse) {
  for (int t = blockIdx.y; t < L; t += gridDim.y) {
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < C; c += gridDim.x * blockDim.x) {
      float acc = bias[c];
      for (int k = 0; k < K; k++) {
        int src = reverse ? t + (K - 1) - k : t - (K - 1) + k;
        if (src < 0 || src >= L) continue;
        acc += w[c * K + k] * __bfloat162float(in[(long long)src * stride + c]);
      }
      out[(long long)t * C + c] = __float2bfloat16(silu(acc));
    }
  }
}

