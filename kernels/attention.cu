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
// is how p feeds p v without a trip through shared memory. The k and v
// fragments come from shared memory through ldmatrix (v transposed on the
// way), four 8x8 tiles per instruction.
#include "common.cuh"

// ldmatrix_x4 loads four 8x8 bf16 tiles; lanes 8m..8m+7 give the row
// addresses of tile m, and register m receives row lane/4, columns 2(lane%4)
// and 2(lane%4)+1 of tile m (of its transpose with trans).
template <bool trans>
__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const bf16 *row) {
  unsigned addr = (unsigned)__cvta_generic_to_shared(row);
  if (trans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

// cp_async16 copies 16 bytes global -> shared without a trip through
// registers; with valid false it writes zeros instead (the source is not read).
__device__ __forceinline__ void cp_async16(bf16 *dst, const bf16 *src, bool valid) {
  unsigned addr = (unsigned)__cvta_generic_to_shared(dst);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(addr), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Key/value tiles are double-buffered when two stages fit the 48 KiB of
// static shared memory (head dims up to 80): the next tile streams in while
// the current one is multiplied.
template <int HD>
struct AttnStages {
  static constexpr int value = 2 * 2 * 64 * (HD + 8) * 2 <= 48 * 1024 ? 2 : 1;
};

template <int HD>
__device__ __forceinline__ void flash_attention(const bf16 *__restrict__ qkv, bf16 *__restrict__ out, int L,
                                                int nheads, float scale_log2) {
  constexpr int BQ = 64, BK = 64, LDS = HD + 8;  // +8 halves: conflict-free ldmatrix rows
  constexpr int STAGES = AttnStages<HD>::value;
  __shared__ __align__(16) bf16 Ks[STAGES][BK * LDS];
  __shared__ __align__(16) bf16 Vs[STAGES][BK * LDS];
  const int h = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
  const int mi = lane >> 3, mr = lane & 7;
  const long long stride = 3LL * nheads * HD;
  const bf16 *Q = qkv + h * HD, *K = qkv + (nheads + h) * HD, *V = qkv + (2 * nheads + h) * HD;
  const int rA = blockIdx.x * BQ + warp * 16 + g, rB = rA + 8;

  auto load_tile = [&](int stage, int k0) {
    for (int e = threadIdx.x; e < BK * (HD / 8); e += blockDim.x) {
      int r = e / (HD / 8), col = (e % (HD / 8)) * 8, key = k0 + r;
      bool valid = key < L;
      long long off = (long long)(valid ? key : 0) * stride + col;
      cp_async16(Ks[stage] + r * LDS + col, K + off, valid);
      cp_async16(Vs[stage] + r * LDS + col, V + off, valid);
    }
    cp_async_commit();
  };
  load_tile(0, 0);

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
  // Running maxima are kept in raw score units; scores enter exp2 as
  // s * scale_log2 - m * scale_log2, one FMA each.
  float mA = -INFINITY, mB = -INFINITY, lA = 0.0f, lB = 0.0f;

  for (int it = 0, k0 = 0; k0 < L; it++, k0 += BK) {
    const int stage = STAGES == 2 ? it & 1 : 0;
    if (STAGES == 2) {
      if (k0 + BK < L) {
        load_tile(stage ^ 1, k0 + BK);  // that stage was released at the end of the previous tile
        cp_async_wait<1>();
      } else {
        cp_async_wait<0>();
      }
    } else {
      if (it > 0) load_tile(0, k0);
      cp_async_wait<0>();
    }
    __syncthreads();
    const bf16 *Kt = Ks[stage], *Vt = Vs[stage];

    // s = q k^T: tiles nt, nt+1 (keys) x 16 columns of d per ldmatrix.
    float s[BK / 8][4];
#pragma unroll
    for (int nt = 0; nt < BK / 8; nt++) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
#pragma unroll
    for (int nt = 0; nt < BK / 8; nt += 2) {
#pragma unroll
      for (int ks = 0; ks < HD / 16; ks++) {
        uint32_t b[4];
        ldmatrix_x4<false>(b, Kt + ((nt + (mi >> 1)) * 8 + mr) * LDS + ks * 16 + (mi & 1) * 8);
        mma_bf16(s[nt], qa[ks], b[0], b[1]);
        mma_bf16(s[nt + 1], qa[ks], b[2], b[3]);
      }
    }
    if (k0 + BK > L) {  // the last, partial tile: keys past L get no weight
#pragma unroll
      for (int nt = 0; nt < BK / 8; nt++) {
#pragma unroll
        for (int e = 0; e < 2; e++) {
          if (k0 + nt * 8 + 2 * c + e >= L) s[nt][e] = s[nt][2 + e] = -INFINITY;
        }
      }
    }
    float mxA = mA, mxB = mB;
#pragma unroll
    for (int nt = 0; nt < BK / 8; nt++) {
      mxA = fmaxf(mxA, fmaxf(s[nt][0], s[nt][1]));
      mxB = fmaxf(mxB, fmaxf(s[nt][2], s[nt][3]));
    }
    mxA = fmaxf(mxA, __shfl_xor_sync(0xffffffffu, mxA, 1));
    mxA = fmaxf(mxA, __shfl_xor_sync(0xffffffffu, mxA, 2));
    mxB = fmaxf(mxB, __shfl_xor_sync(0xffffffffu, mxB, 1));
    mxB = fmaxf(mxB, __shfl_xor_sync(0xffffffffu, mxB, 2));
    // Every tile holds at least one valid key, so the new maxima are finite.
    const float alphaA = exp2f((mA - mxA) * scale_log2), alphaB = exp2f((mB - mxB) * scale_log2);
    mA = mxA;
    mB = mxB;
    const float offA = -mA * scale_log2, offB = -mB * scale_log2;
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
      s[nt][0] = exp2f(fmaf(s[nt][0], scale_log2, offA));
      s[nt][1] = exp2f(fmaf(s[nt][1], scale_log2, offA));
      s[nt][2] = exp2f(fmaf(s[nt][2], scale_log2, offB));
      s[nt][3] = exp2f(fmaf(s[nt][3], scale_log2, offB));
      lA += s[nt][0] + s[nt][1];
      lB += s[nt][2] + s[nt][3];
    }
#pragma unroll
    for (int kk = 0; kk < BK / 16; kk++) {
      uint32_t pa[4] = {pack_bf16(s[2 * kk][0], s[2 * kk][1]), pack_bf16(s[2 * kk][2], s[2 * kk][3]),
                        pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]), pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dn = 0; dn < HD / 8; dn += 2) {
        uint32_t b[4];
        ldmatrix_x4<true>(b, Vt + (kk * 16 + (mi & 1) * 8 + mr) * LDS + (dn + (mi >> 1)) * 8);
        mma_bf16(o[dn], pa, b[0], b[1]);
        mma_bf16(o[dn + 1], pa, b[2], b[3]);
      }
    }
    __syncthreads();  // every warp is done with this stage before it is refilled
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
