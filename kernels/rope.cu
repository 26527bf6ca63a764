// Rotary position embedding, rotate-half pairing (j, j+hd/2), applied in
// place to the q and k columns of the bf16 qkv projection output. Angles
// t * theta^(-2j/hd) and their sines in double, as the CPU reference: at
// t = 64K a float angle would already be off by ~1e-2 rad. Rows t over
// blockIdx.y, pairs j over threads; a thread rotates pair j of every head of
// q and k.
#include "common.cuh"

extern "C" __global__ void rope_qk(bf16 *qkv, int L, int nheads, int hd, int stride, double theta) {
  int half = hd / 2;
  for (int t = blockIdx.y; t < L; t += gridDim.y) {
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < half; j += gridDim.x * blockDim.x) {
      double s, c;
      sincos((double)t * pow(theta, -2.0 * j / hd), &s, &c);
      float sn = (float)s, cs = (float)c;
      bf16 *row = qkv + (long long)t * stride;
      for (int h = 0; h < 2 * nheads; h++) {  // q heads, then k heads (k starts at column nheads*hd)
        bf16 *x = row + h * hd;
        float a = __bfloat162float(x[j]), b = __bfloat162float(x[j + half]);
        x[j] = __float2bfloat16(a * cs - b * sn);
        x[j + half] = __float2bfloat16(b * cs + a * sn);
      }
    }
  }
}
