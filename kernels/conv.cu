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

// conv1d_silu_x8 is conv1d_silu with each thread taking 8 adjacent channels
// through 16-byte loads and stores; it needs C, stride and the input
// offset to be multiples of 8 elements (true for every preset: d_inner and
// d_state are multiples of 8), any K.
extern "C" __global__ void conv1d_silu_x8(bf16 *out, const bf16 *in, int stride, const float *w, const float *bias,
                                          int L, int C, int K, int reverse) {
  const int groups = C / 8;
  for (int t = blockIdx.y; t < L; t += gridDim.y) {
    for (int c8 = blockIdx.x * blockDim.x + threadIdx.x; c8 < groups; c8 += gridDim.x * blockDim.x) {
      const int c0 = c8 * 8;
      float acc[8];
#pragma unroll
      for (int j = 0; j < 8; j++) acc[j] = bias[c0 + j];
      for (int k = 0; k < K; k++) {
        int src = reverse ? t + (K - 1) - k : t - (K - 1) + k;
        if (src < 0 || src >= L) continue;
        uint4 v = *reinterpret_cast<const uint4 *>(in + (long long)src * stride + c0);
        const bf16 *x = reinterpret_cast<const bf16 *>(&v);
#pragma unroll
        for (int j = 0; j < 8; j++) acc[j] += w[(c0 + j) * K + k] * __bfloat162float(x[j]);
      }
      uint4 o;
      bf16 *ob = reinterpret_cast<bf16 *>(&o);
#pragma unroll
      for (int j = 0; j < 8; j++) ob[j] = __float2bfloat16(silu(acc[j]));
      *reinterpret_cast<uint4 *>(out + (long long)t * C + c0) = o;
    }
  }
}
