// Embedding gather: h[t][:] = table[tokens[t]][:] (bf16 table, float32 rows).
#include "common.cuh"

// Rows are spread over blockIdx.y, columns over threads (grid-stride both
// ways), so no thread divides a flat 64-bit index.
extern "C" __global__ void embed_gather(float *h, const bf16 *table, const int *tokens, int L, int d) {
  for (int t = blockIdx.y; t < L; t += gridDim.y) {
    const bf16 *src = table + (long long)tokens[t] * d;
    float *dst = h + (long long)t * d;
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < d; c += gridDim.x * blockDim.x) dst[c] = __bfloat162float(src[c]);
  }
}
