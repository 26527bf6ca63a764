// MLP activation: x[r][c] = GELU_tanh(x[r][c] + bias[c]) in place on the bf16
// fc1 output (the bias is added here so the GEMM needs no bias epilogue).
#include "common.cuh"

extern "C" __global__ void bias_gelu(bf16 *x, const float *bias, int rows, int n) {
  long long total = (long long)rows * n;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
       i += (long long)gridDim.x * blockDim.x) {
    float v = __bfloat162float(x[i]) + bias[i % n];
    float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
    x[i] = __float2bfloat16(0.5f * v * (1.0f + tanhf(u)));
  }
}
