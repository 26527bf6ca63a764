// Embedding gather: h[t][:] = table[tokens[t]][:] (bf16 table, float32 rows).
#include "common.cuh"

// One thread per element, grid-stride: the rows are
// short (d <= a few thousand), so a flat index keeps every thread busy.
extern "C" __global__ void embed_gather(float *h, const bf16 *table, const int *tokens, int L, int d) {
  long long n = (long long)L * d;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    int t = (int)(i / d), c = (int)(i % d);
    h[i] = __bfloat162float(table[(long long)tokens[t] * d + c]);
  }
}
