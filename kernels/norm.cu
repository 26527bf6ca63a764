// LayerNorm (weight only) fused with the adaLN modulation, and Mamba-2's
// gated RMSNorm. One block per row; statistics in float32 over two passes
// (mean, then centred squares) as the CPU reference's float64 two-pass.
#include "common.cuh"

// ln_modulate: out[r][c] = ((x[r][c]-mu)/sqrt(var+eps) * w[c]) * (1+scale[c]) + shift[c].
// x float32 [rows, d]; out bf16 [rows, d]. rows(r) = rowidx ? rowidx[r] : r
// lets the head normalise only the queried positions.
extern "C" __global__ void ln_modulate(bf16 *out, const float *x, const int *rowidx, const float *w,
                                       const float *shift, const float *scale, int d, float eps) {
  __shared__ float scratch[32];
  int r = blockIdx.x;
  const float *xr = x + (long long)(rowidx ? rowidx[r] : r) * d;
  float s = 0.0f;
  for (int c = threadIdx.x; c < d; c += blockDim.x) s += xr[c];
  float mean = block_sum(s, scratch) / d;
  float sq = 0.0f;
  for (int c = threadIdx.x; c < d; c += blockDim.x) {
    float v = xr[c] - mean;
    sq += v * v;
  }
  float inv = rsqrtf(block_sum(sq, scratch) / d + eps);
  bf16 *o = out + (long long)r * d;
  for (int c = threadIdx.x; c < d; c += blockDim.x)
    o[c] = __float2bfloat16(((xr[c] - mean) * inv * w[c]) * (1.0f + scale[c]) + shift[c]);
}

// gated_rmsnorm: g = y * SiLU(z); out = g / sqrt(mean_group(g^2) + eps) * w,
// normalised per group of dinner/ngroups channels. y float32 [L, dinner];
// z bf16 strided (row t at z + t*zstride); out bf16 [L, dinner]. Grid (L, ngroups).
extern "C" __global__ void gated_rmsnorm(bf16 *out, const float *y, const bf16 *z, int zstride, const float *w,
                                         int dinner, int ngroups, float eps) {
  __shared__ float scratch[32];
  int t = blockIdx.x, n = dinner / ngroups, c0 = blockIdx.y * n;
  const float *yt = y + (long long)t * dinner + c0;
  const bf16 *zt = z + (long long)t * zstride + c0;
  float sq = 0.0f;
  for (int c = threadIdx.x; c < n; c += blockDim.x) {
    float g = yt[c] * silu(__bfloat162float(zt[c]));
    sq += g * g;
  }
  float inv = rsqrtf(block_sum(sq, scratch) / n + eps);
  bf16 *o = out + (long long)t * dinner + c0;
  for (int c = threadIdx.x; c < n; c += blockDim.x)
    o[c] = __float2bfloat16(yt[c] * silu(__bfloat162float(zt[c])) * inv * w[c0 + c]);
}
