// Gated residual add of an adaLN block: h[r][c] += gate[c] * (y[r][c] + bias[c]),
// where bias (the fc2 bias) may be absent. h and y float32 [rows, d].
#include "common.cuh"

extern "C" __global__ void gated_residual(float *h, const float *y, const float *gate, const float *bias, int rows,
                                          int d) {
  long long n = (long long)rows * d;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    int c = (int)(i % d);
    float v = y[i];
    if (bias) v += bias[c];
    h[i] += gate[c] * v;
  }
}
