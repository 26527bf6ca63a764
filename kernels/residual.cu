// Gated residual add of an adaLN block: h[r][c] += gate[c] * (y[r][c] + bias[c]),
// where bias (the fc2 bias) may be absent. h and y float32 [rows, d]. Rows
// over blockIdx.y, columns over threads.
#include "common.cuh"

extern "C" __global__ void gated_residual(float *h, const float *y, const float *gate, const float *bias, int rows,
                                          int d) {
  for (int r = blockIdx.y; r < rows; r += gridDim.y) {
    float *hr = h + (long long)r * d;
    const float *yr = y + (long long)r * d;
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < d; c += gridDim.x * blockDim.x) {
      float v = yr[c];
      if (bias) v += bias[c];
      hr[c] += gate[c] * v;
    }
  }
}
