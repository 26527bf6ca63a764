// Bidirectional multi-head attention, flash style: softmax(q k^T / sqrt(hd)) v
// with an online softmax over key tiles, so no L x L matrix exists anywhere.
// q, k, v are the column blocks of the bf16 qkv projection output [L, 3*nh*hd]
// (RoPE already applied); out is bf16 [L, nh*hd].
//
// A block of 4 warps takes 64 query rows of one head; each warp keeps its 16
// rows' q fragments in registers and its output accumulator in float32. Key
// and value tiles of 64 rows are staged in shared memory; q k^T and p v run on
// the tensor cores (mma.sync m16n8k16 bf16, float32 accumulation, sm_80+).
// Fragment layouts (PTX ISA, m16n8k16): lane = 4*g + c; A holds rows g, g+8
// and columns 2c, 2c+1 (+8); B holds column g and rows 2c, 2c+1 (+8); the
// accumulator holds rows g, g+8 and columns 2c, 2c+1. The accumulator layout
// of two adjacent 8-key tiles is exactly the A layout of a 16-key step, which
// is how p feeds p v without a trip through shared memory.
#include "common.cuh"

__device__ __forceinline__ void mma_bf16(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t *>(&v);
}

__device__ __forceinline__ uint32_t pack_bf16(bf16 lo, bf16 hi) {
  __nv_bfloat162 v;
  v.x = lo;
  v.y = hi;
  return *reinterpret_cast<uint32_t *>(&v);
}

template <int HD>
__device__ __forceinline__ void flash_attention(const bf16 *__restrict__ qkv, bf16 *__restrict__ out, int L,
                                                int nheads, float scale_log2) {
  constexpr int BQ = 64, BK = 64, LDS = HD + 8;  // +8 halves: conflict-free fragment reads
  __shared__ __align__(16) bf16 Ks[BK * LDS];
  __shared__ __align__(16) bf16 Vs[BK * LDS];
  const int h = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
  const long long stride = 3LL * nheads * HD;
  const bf16 *Q = qkv + h * HD, *K = qkv + (nheads + h) * HD, *V = qkv + (2 * nheads + h) * HD;
  const int rA = blockIdx.x * BQ + warp * 16 + g, rB = rA + 8;

  uint32_t qa[HD / 16][4];
#pragma unroll
  for (int ks = 0; ks < HD / 16; ks++) {
    int col = ks * 16 + 2 * c;
    qa[ks][0] = rA < L ? *reinterpret_cast<const uint32_t *>(Q + rA * stride + col) : 0u;
    qa[ks][1] = rB < L ? *reinterpret_cast<const uint32_t *>(Q + rB * stride + col) : 0u;
    qa[ks][2] = rA < L ? *reinterpret_cast<const uint32_t *>(Q + rA * stride + col + 8) : 0u;
    qa[ks][3] = rB < L ? *reinterpret_cast<const uint32_t *>(Q + rB * stride + col + 8) : 0u;
  }
  float o[HD / 8][4];
#pragma unroll
  for (int dn = 0; dn < HD / 8; dn++) o[dn][0] = o[dn][1] = o[dn][2] = o[dn][3] = 0.0f;
  float mA = -INFINITY, mB = -INFINITY, lA = 0.0f, lB = 0.0f;

  for (int k0 = 0; k0 < L; k0 += BK) {
    __syncthreads();  // every warp is done with the previous tile
    for (int e = threadIdx.x; e < BK * (HD / 8); e += blockDim.x) {
      int r = e / (HD / 8), col = (e % (HD / 8)) * 8, key = k0 + r;
      uint4 kv = make_uint4(0, 0, 0, 0), vv = kv;
      if (key < L) {
        kv = *reinterpret_cast<const uint4 *>(K + key * stride + col);
        vv = *reinterpret_cast<const uint4 *>(V + key * stride + col);
      }
      *reinterpret_cast<uint4 *>(Ks + r * LDS + col) = kv;
      *reinterpret_cast<uint4 *>(Vs + r * LDS + col) = vv;
    }
    __syncthreads();

    float s[BK / 8][4];
#pragma unroll
    for (int nt = 0; nt < BK / 8; nt++) {
      s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
#pragma unroll
      for (int ks = 0; ks < HD / 16; ks++) {
        const bf16 *kp = Ks + (nt * 8 + g) * LDS + ks * 16 + 2 * c;
        mma_bf16(s[nt], qa[ks], *reinterpret_cast<const uint32_t *>(kp), *reinterpret_cast<const uint32_t *>(kp + 8));
      }
    }
    float mxA = -INFINITY, mxB = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < BK / 8; nt++) {
#pragma unroll
      for (int e = 0; e < 2; e++) {
        bool valid = k0 + nt * 8 + 2 * c + e < L;
        s[nt][e] = valid ? s[nt][e] * scale_log2 : -INFINITY;
        s[nt][2 + e] = valid ? s[nt][2 + e] * scale_log2 : -INFINITY;
        mxA = fmaxf(mxA, s[nt][e]);
        mxB = fmaxf(mxB, s[nt][2 + e]);
      }
    }
    mxA = fmaxf(mxA, __shfl_xor_sync(0xffffffffu, mxA, 1));
    mxA = fmaxf(mxA, __shfl_xor_sync(0xffffffffu, mxA, 2));
    mxB = fmaxf(mxB, __shfl_xor_sync(0xffffffffu, mxB, 1));
    mxB = fmaxf(mxB, __shfl_xor_sync(0xffffffffu, mxB, 2));
    // Every tile holds at least one valid key, so the new maxima are finite.
    float nA = fmaxf(mA, mxA), nB = fmaxf(mB, mxB);
    float alphaA = exp2f(mA - nA), alphaB = exp2f(mB - nB);
    mA = nA;
    mB = nB;
    lA *= alphaA;
    lB *= alphaB;
#pragma unroll
    for (int dn = 0; dn < HD / 8; dn++) {
      o[dn][0] *= alphaA;
      o[dn][1] *= alphaA;
      o[dn][2] *= alphaB;
      o[dn][3] *= alphaB;
    }
#pragma unroll
    for (int nt = 0; nt < BK / 8; nt++) {
      s[nt][0] = exp2f(s[nt][0] - mA);
      s[nt][1] = exp2f(s[nt][1] - mA);
      s[nt][2] = exp2f(s[nt][2] - mB);
      s[nt][3] = exp2f(s[nt][3] - mB);
      lA += s[nt][0] + s[nt][1];
      lB += s[nt][2] + s[nt][3];
    }
#pragma unroll
    for (int kk = 0; kk < BK / 16; kk++) {
      uint32_t pa[4] = {pack_bf16(s[2 * kk][0], s[2 * kk][1]), pack_bf16(s[2 * kk][2], s[2 * kk][3]),
                        pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]), pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dn = 0; dn < HD / 8; dn++) {
        const bf16 *vp = Vs + (kk * 16 + 2 * c) * LDS + dn * 8 + g;
        mma_bf16(o[dn], pa, pack_bf16(vp[0], vp[LDS]), pack_bf16(vp[8 * LDS], vp[9 * LDS]));
      }
    }
  }
  lA += __shfl_xor_sync(0xffffffffu, lA, 1);
  lA += __shfl_xor_sync(0xffffffffu, lA, 2);
  lB += __shfl_xor_sync(0xffffffffu, lB, 1);
  lB += __shfl_xor_sync(0xffffffffu, lB, 2);
  const long long ostride = (long long)nheads * HD;
  float iA = 1.0f / lA, iB = 1.0f / lB;
#pragma unroll
  for (int dn = 0; dn < HD / 8; dn++) {
    int col = h * HD + dn * 8 + 2 * c;
    if (rA < L) *reinterpret_cast<uint32_t *>(out + rA * ostride + col) = pack_bf16(o[dn][0] * iA, o[dn][1] * iA);
    if (rB < L) *reinterpret_cast<uint32_t *>(out + rB * ostride + col) = pack_bf16(o[dn][2] * iB, o[dn][3] * iB);
  }
}

// One entry point per supported head size (a multiple of 16, at most 128).
// Grid (ceil(L/64), nheads), 128 threads. scale_log2 = log2(e)/sqrt(hd).
#define ATTENTION_ENTRY(HD)                                                                                  \
  extern "C" __global__ void __launch_bounds__(128) attention_hd##HD(const bf16 *qkv, bf16 *out, int L, int nheads, \
                                                                     float scale_log2) {                    \
    flash_attention<HD>(qkv, out, L, nheads, scale_log2);                                                    \
  }
ATTENTION_ENTRY(16)
ATTENTION_ENTRY(32)
ATTENTION_ENTRY(48)
ATTENTION_ENTRY(64)
ATTENTION_ENTRY(80)
ATTENTION_ENTRY(96)
ATTENTION_ENTRY(112)
ATTENTION_ENTRY(128)
