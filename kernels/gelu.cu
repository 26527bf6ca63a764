// MLP activation: x[r][c] = GELU_tanh(x[r][c] + bias[c]) in place on the bf16
// fc1 output (the bias is added here so the GEMM needs no bias epilogue).
// Rows over blockIdx.y; each thread takes two adjacent columns (n is even
// for every preset; an odd last column is handled alone).
#include "common.cuh"

__device__ __forceinline__ float gelu_tanh(float v) {
  return 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
}

extern "C" __global__ void bias_gelu(bf16 *x, const float *bias, int rows, int n) {
  for (int r = blockIdx.y; r < rows; r += gridDim.y) {
    bf16 *xr = x + (long long)r * n;
    for (int c = 2 * (blockIdx.x * blockDim.x + threadIdx.x); c < n; c += 2 * gridDim.x * blockDim.x) {
      if (c + 1 < n && (n & 1) == 0) {
        __nv_bfloat162 v = *reinterpret_cast<__nv_bfloat162 *>(xr + c);
        *reinterpret_cast<__nv_bfloat162 *>(xr + c) = __floats2bfloat162_rn(
            gelu_tanh(__bfloat162float(v.x) + bias[c]), gelu_tanh(__bfloat162float(v.y) + bias[c + 1]));
      } else {
        xr[c] = __float2bfloat16(gelu_tanh(__bfloat162float(xr[c]) + bias[c]));
        if (c + 1 < n) xr[c + 1] = __float2bfloat16(gelu_tanh(__bfloat162float(xr[c + 1]) + bias[c + 1]));
      }
    }
  }
}
