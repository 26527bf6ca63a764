// Mamba-2 SSD scan, chunked over the sequence, forward or reverse. Per head h
// (group g), state S [hd, ds], S_-1 = 0:
//   S_t = exp(dt_t A) S_{t-1} + dt_t x_t B_t^T,   y_t = S_t C_t + D x_t
// with dt_t = softplus(dtraw_t + dt_bias), A = -exp(A_log). reverse != 0 runs
// the same recurrence from t = L-1 down to 0 (flip(scan(flip(.))) without
// flipped copies): all three passes work in scan order s and read position
// t = reverse ? L-1-s : s.
//
// Pass 1 (ssd_chunk, emit = 0): each chunk of Q scan steps runs the
//   recurrence from a zero state; states[c] = its final state, chunk_dA[c] =
//   sum of dt*A over the chunk.
// Pass 2 (ssd_state_pass): sequential over chunks, turns states[c] into the
//   true state entering chunk c.
// Pass 3 (ssd_chunk, emit = 1): each chunk reruns its recurrence from that
//   state and writes y.
// Chunks are independent in passes 1 and 3, so the grid is (chunks, heads);
// any chunk length gives the same y up to rounding.
//
// Thread layout: hd*nsplit threads; thread (p, j) owns state row p, columns
// n = j + nsplit*i (i < 32), so nsplit = the power of two >= ds/32. The
// inputs of TSTEP scan steps are staged in shared memory at a time.
#include "common.cuh"

#define SSD_MAX_COLS 32


extern "C" __global__ void ssd_chunk(const bf16 *xbc, const bf16 *dtraw, int dtstride, const float *dt_bias,
                                     const float *A_log, const float *Dskip, float *y, float *states, float *chunk_dA,
                                     int L, int nh, int hd, int ds, int ngroups, int Q, int nsplit, int tstep,
                                     int reverse, int emit) {
  extern __shared__ float smem[];
  int chunk = blockIdx.x, h = blockIdx.y;
  int dinner = nh * hd, cdim = dinner + 2 * ngroups * ds, g = h / (nh / ngroups);
  int p = threadIdx.x / nsplit, j = threadIdx.x % nsplit;
  unsigned mask = blockDim.x >= 32 ? 0xffffffffu : ((1u << blockDim.x) - 1u);
  float *sx = smem, *sB = sx + tstep * hd, *sC = sB + tstep * ds, *sdt = sC + tstep * ds, *sdA = sdt + tstep;
  float A = -expf(A_log[h]), bias = dt_bias[h], Dh = Dskip[h];
  float *st = states + ((long long)(chunk * nh + h) * hd + p) * ds;

  float S[SSD_MAX_COLS];
#pragma unroll
  for (int i = 0; i < SSD_MAX_COLS; i++) {
    int n = j + nsplit * i;
    S[i] = (emit && n < ds) ? st[n] : 0.0f;
  }
  float dAsum = 0.0f;
  int s_begin = chunk * Q, s_end = min(s_begin + Q, L);
  for (int s0 = s_begin; s0 < s_end; s0 += tstep) {
    int steps = min(tstep, s_end - s0);
    __syncthreads();  // the previous tile is fully consumed
    for (int e = threadIdx.x; e < steps * hd; e += blockDim.x) {
      int k = e / hd, q = e % hd, s = s0 + k, t = reverse ? L - 1 - s : s;
      sx[k * hd + q] = __bfloat162float(xbc[(long long)t * cdim + h * hd + q]);
    }
    for (int e = threadIdx.x; e < steps * ds; e += blockDim.x) {
      int k = e / ds, n = e % ds, s = s0 + k, t = reverse ? L - 1 - s : s;
      const bf16 *row = xbc + (long long)t * cdim + dinner + g * ds + n;
      sB[k * ds + n] = __bfloat162float(row[0]);
      if (emit) sC[k * ds + n] = __bfloat162float(row[ngroups * ds]);
    }
    for (int k = threadIdx.x; k < steps; k += blockDim.x) {
      int s = s0 + k, t = reverse ? L - 1 - s : s;
      float dt = softplus(__bfloat162float(dtraw[(long long)t * dtstride + h]) + bias);
      sdt[k] = dt;
      sdA[k] = dt * A;
    }
    __syncthreads();
    for (int k = 0; k < steps; k++) {
      float a = __expf(sdA[k]), x = sx[k * hd + p], dtx = sdt[k] * x;
      dAsum += sdA[k];
      const float *Bk = sB + k * ds;
      float acc = 0.0f;
      if (emit) {
        const float *Ck = sC + k * ds;
#pragma unroll
        for (int i = 0; i < SSD_MAX_COLS; i++) {
          int n = j + nsplit * i;
          if (n < ds) {
            S[i] = a * S[i] + dtx * Bk[n];
            acc += S[i] * Ck[n];
          }
        }
        for (int o = nsplit >> 1; o > 0; o >>= 1) acc += __shfl_xor_sync(mask, acc, o);
        if (j == 0) {
          int s = s0 + k, t = reverse ? L - 1 - s : s;
          y[(long long)t * dinner + h * hd + p] = acc + Dh * x;
        }
      } else {
#pragma unroll
        for (int i = 0; i < SSD_MAX_COLS; i++) {
          int n = j + nsplit * i;
          if (n < ds) S[i] = a * S[i] + dtx * Bk[n];
        }
      }
    }
  }
  if (!emit) {
#pragma unroll
    for (int i = 0; i < SSD_MAX_COLS; i++) {
      int n = j + nsplit * i;
      if (n < ds) st[n] = S[i];
    }
    if (threadIdx.x == 0) chunk_dA[chunk * nh + h] = dAsum;
  }
}

// ssd_state_pass: states[c] (a chunk's final state from zero) becomes the
// state entering chunk c: carry_0 = 0, carry_{c+1} = exp(chunk_dA[c]) carry_c + local_c.
// One thread per state element of every head.
extern "C" __global__ void ssd_state_pass(float *states, const float *chunk_dA, int nchunks, int nh, int hd, int ds) {
  long long per_head = (long long)hd * ds, n = per_head * nh;
  long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  if (e >= n) return;
  int h = (int)(e / per_head);
  float carry = 0.0f;
  // Eight chunks' loads are issued before their dependent updates, so the
  // chain waits on memory once per eight chunks rather than once per chunk.
  for (int c0 = 0; c0 < nchunks; c0 += 8) {
    float local[8], dA[8];
#pragma unroll
    for (int k = 0; k < 8; k++) {
      if (c0 + k < nchunks) {
        local[k] = states[(long long)(c0 + k) * n + e];
        dA[k] = chunk_dA[(c0 + k) * nh + h];
      }
    }
#pragma unroll
    for (int k = 0; k < 8; k++) {
      if (c0 + k < nchunks) {
        states[(long long)(c0 + k) * n + e] = carry;
        carry = __expf(dA[k]) * carry + local[k];
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Tensor-core chunked scan (sm_80+), for head dims and d_state that are
// multiples of 16: the same three passes with chunks of SSD_TC_Q = 64 steps,
// each pass written as small matrix products on mma.sync (bf16 operands,
// float32 accumulation), as Mamba-2's SSD. With cum_i = sum_{k<=i} dt_k A
// within a chunk (scan order):
//   pass 1: S_local = sum_k exp(cum_end - cum_k) dt_k x_k B_k^T   ([hd x Q] . [Q x N])
//   pass 3: y_i = exp(cum_i) C_i S_in^T                            ([Q x N] . [N x hd])
//               + sum_{j<=i} exp(cum_i - cum_j) dt_j (C_i . B_j) x_j  ((C B^T masked) . X)
//               + D x_i
// Every exponent is <= 0. A block of 4 warps takes one chunk and hpb heads
// of one group: B, C and C B^T depend only on the group, so they are loaded
// and multiplied once for all hpb heads. Warp w owns output rows 16w..16w+15
// in pass 3. Rows are read with 16-byte loads (every offset is a multiple of
// 8 elements because hd and d_state are multiples of 16).
#define SSD_TC_Q 64

// ssd_tc_load_steps stages dt and the running sum cum of dt*A of one chunk
// and head in shared memory; steps past L get dt = 0 (no decay, no input).
__device__ __forceinline__ void ssd_tc_load_steps(float *sdt, float *scum, const bf16 *dtraw, int dtstride,
                                                  float bias, float A, int s0, int L, int reverse, int h) {
  for (int k = threadIdx.x; k < SSD_TC_Q; k += blockDim.x) {
    int s = s0 + k;
    float dt = 0.0f;
    if (s < L) {
      int t = reverse ? L - 1 - s : s;
      dt = softplus(__bfloat162float(dtraw[(long long)t * dtstride + h]) + bias);
    }
    sdt[k] = dt;
    scum[k] = dt * A;
  }
  __syncthreads();
  if (threadIdx.x < 32) {  // inclusive prefix sum of 64 values by one warp
    int lane = threadIdx.x;
    float v0 = scum[lane], v1 = scum[lane + 32];
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      float u0 = __shfl_up_sync(0xffffffffu, v0, o), u1 = __shfl_up_sync(0xffffffffu, v1, o);
      if (lane >= o) v0 += u0, v1 += u1;
    }
    v1 += __shfl_sync(0xffffffffu, v0, 31);
    scum[lane] = v0;
    scum[lane + 32] = v1;
  }
  __syncthreads();
}

// ssd_tc_row returns the row of scan step s (position reverse ? L-1-s : s).
__device__ __forceinline__ const bf16 *ssd_tc_row(const bf16 *xbc, int s, int L, int reverse, int cdim) {
  return xbc + (long long)(reverse ? L - 1 - s : s) * cdim;
}

template <int HD, int N>
__device__ __forceinline__ void ssd_tc_state(const bf16 *__restrict__ xbc, const bf16 *__restrict__ dtraw,
                                             int dtstride, const float *dt_bias, const float *A_log,
                                             float *__restrict__ states, float *__restrict__ chunk_dA, int L, int nh,
                                             int ngroups, int hpb, int reverse) {
  constexpr int Q = SSD_TC_Q, LD = Q + 8;
  __shared__ __align__(16) bf16 XwT[HD * LD];  // [p][k]: x_k[p] * exp(cum_end - cum_k) dt_k
  __shared__ __align__(16) bf16 Bt[N * LD];    // [n][k]
  __shared__ float sdt[Q], scum[Q];
  const int chunk = blockIdx.x, h0 = blockIdx.y * hpb, g = h0 / (nh / ngroups);
  const int dinner = nh * HD, cdim = dinner + 2 * ngroups * N, s0 = chunk * Q;
  for (int e = threadIdx.x; e < Q * (N / 8); e += blockDim.x) {
    int k = e / (N / 8), n8 = (e % (N / 8)) * 8, s = s0 + k;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (s < L) v = *reinterpret_cast<const uint4 *>(ssd_tc_row(xbc, s, L, reverse, cdim) + dinner + g * N + n8);
    const bf16 *b = reinterpret_cast<const bf16 *>(&v);
#pragma unroll
    for (int j = 0; j < 8; j++) Bt[(n8 + j) * LD + k] = b[j];
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gr = lane >> 2, c = lane & 3;
  for (int h = h0; h < h0 + hpb; h++) {
    __syncthreads();  // the previous head is done with XwT, sdt and scum
    ssd_tc_load_steps(sdt, scum, dtraw, dtstride, dt_bias[h], -expf(A_log[h]), s0, L, reverse, h);
    const float cum_end = scum[Q - 1];
    for (int e = threadIdx.x; e < Q * (HD / 8); e += blockDim.x) {
      int k = e / (HD / 8), p8 = (e % (HD / 8)) * 8, s = s0 + k;
      uint4 v = make_uint4(0, 0, 0, 0);
      if (s < L) v = *reinterpret_cast<const uint4 *>(ssd_tc_row(xbc, s, L, reverse, cdim) + h * HD + p8);
      const bf16 *x = reinterpret_cast<const bf16 *>(&v);
      float w = __expf(cum_end - scum[k]) * sdt[k];
#pragma unroll
      for (int j = 0; j < 8; j++) XwT[(p8 + j) * LD + k] = __float2bfloat16(__bfloat162float(x[j]) * w);
    }
    __syncthreads();
    float *out = states + (long long)(chunk * nh + h) * HD * N;
    for (int tile = warp; tile < (HD / 16) * (N / 8); tile += 4) {
      int mt = tile / (N / 8), nt = tile % (N / 8);
      float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
      for (int ks = 0; ks < Q / 16; ks++) {
        const bf16 *ap = XwT + (mt * 16 + gr) * LD + ks * 16 + 2 * c;
        uint32_t a[4] = {*reinterpret_cast<const uint32_t *>(ap), *reinterpret_cast<const uint32_t *>(ap + 8 * LD),
                         *reinterpret_cast<const uint32_t *>(ap + 8),
                         *reinterpret_cast<const uint32_t *>(ap + 8 * LD + 8)};
        const bf16 *bp = Bt + (nt * 8 + gr) * LD + ks * 16 + 2 * c;
        mma_bf16(acc, a, *reinterpret_cast<const uint32_t *>(bp), *reinterpret_cast<const uint32_t *>(bp + 8));
      }
      int p = mt * 16 + gr, n = nt * 8 + 2 * c;
      *reinterpret_cast<float2 *>(out + p * N + n) = make_float2(acc[0], acc[1]);
      *reinterpret_cast<float2 *>(out + (p + 8) * N + n) = make_float2(acc[2], acc[3]);
    }
    if (threadIdx.x == 0) chunk_dA[chunk * nh + h] = cum_end;
  }
}

template <int HD, int N>
__device__ __forceinline__ void ssd_tc_output(const bf16 *__restrict__ xbc, const bf16 *__restrict__ dtraw,
                                              int dtstride, const float *dt_bias, const float *A_log,
                                              const float *Dskip, float *__restrict__ y,
                                              const float *__restrict__ states, int L, int nh, int ngroups, int hpb,
                                              int reverse) {
  constexpr int Q = SSD_TC_Q, LDN = N + 8, LDX = HD + 8, BS_ROWS = HD > Q ? HD : Q;
  __shared__ __align__(16) bf16 Cs[Q * LDN];        // [i][n]
  __shared__ __align__(16) bf16 BS[BS_ROWS * LDN];  // B as [j][n], then each head's S_in as [p][n]
  __shared__ __align__(16) bf16 Xs[Q * LDX];        // [j][p]
  __shared__ float sdt[Q], scum[Q];
  const int chunk = blockIdx.x, h0 = blockIdx.y * hpb, g = h0 / (nh / ngroups);
  const int dinner = nh * HD, cdim = dinner + 2 * ngroups * N, s0 = chunk * Q;
  for (int e = threadIdx.x; e < Q * (N / 8); e += blockDim.x) {
    int k = e / (N / 8), n8 = (e % (N / 8)) * 8, s = s0 + k;
    uint4 bv = make_uint4(0, 0, 0, 0), cv = bv;
    if (s < L) {
      const bf16 *row = ssd_tc_row(xbc, s, L, reverse, cdim) + dinner + g * N + n8;
      bv = *reinterpret_cast<const uint4 *>(row);
      cv = *reinterpret_cast<const uint4 *>(row + ngroups * N);
    }
    *reinterpret_cast<uint4 *>(BS + k * LDN + n8) = bv;
    *reinterpret_cast<uint4 *>(Cs + k * LDN + n8) = cv;
  }
  __syncthreads();

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gr = lane >> 2, c = lane & 3;
  const int iA = warp * 16 + gr, iB = iA + 8;
  uint32_t ca[N / 16][4];
#pragma unroll
  for (int ks = 0; ks < N / 16; ks++) {
    const bf16 *ap = Cs + iA * LDN + ks * 16 + 2 * c;
    ca[ks][0] = *reinterpret_cast<const uint32_t *>(ap);
    ca[ks][1] = *reinterpret_cast<const uint32_t *>(ap + 8 * LDN);
    ca[ks][2] = *reinterpret_cast<const uint32_t *>(ap + 8);
    ca[ks][3] = *reinterpret_cast<const uint32_t *>(ap + 8 * LDN + 8);
  }
  // G = C B^T on this warp's rows (tiles above the diagonal stay zero); it
  // serves every head of the block.
  float G[Q / 8][4];
#pragma unroll
  for (int nt = 0; nt < Q / 8; nt++) {
    G[nt][0] = G[nt][1] = G[nt][2] = G[nt][3] = 0.0f;
    if (nt * 8 > warp * 16 + 15) continue;
#pragma unroll
    for (int ks = 0; ks < N / 16; ks++) {
      const bf16 *bp = BS + (nt * 8 + gr) * LDN + ks * 16 + 2 * c;
      mma_bf16(G[nt], ca[ks], *reinterpret_cast<const uint32_t *>(bp), *reinterpret_cast<const uint32_t *>(bp + 8));
    }
  }

  for (int h = h0; h < h0 + hpb; h++) {
    __syncthreads();  // B (first head) or the previous head's S_in, X and steps are consumed
    ssd_tc_load_steps(sdt, scum, dtraw, dtstride, dt_bias[h], -expf(A_log[h]), s0, L, reverse, h);
    const float4 *st = reinterpret_cast<const float4 *>(states + (long long)(chunk * nh + h) * HD * N);
    for (int e = threadIdx.x; e < HD * N / 4; e += blockDim.x) {
      float4 v = st[e];
      int p = e / (N / 4), n4 = (e % (N / 4)) * 4;
      *reinterpret_cast<__nv_bfloat162 *>(BS + p * LDN + n4) = __floats2bfloat162_rn(v.x, v.y);
      *reinterpret_cast<__nv_bfloat162 *>(BS + p * LDN + n4 + 2) = __floats2bfloat162_rn(v.z, v.w);
    }
    for (int e = threadIdx.x; e < Q * (HD / 8); e += blockDim.x) {
      int k = e / (HD / 8), p8 = (e % (HD / 8)) * 8, s = s0 + k;
      uint4 v = make_uint4(0, 0, 0, 0);
      if (s < L) v = *reinterpret_cast<const uint4 *>(ssd_tc_row(xbc, s, L, reverse, cdim) + h * HD + p8);
      *reinterpret_cast<uint4 *>(Xs + k * LDX + p8) = v;
    }
    __syncthreads();

    float acc[HD / 8][4];
#pragma unroll
    for (int dn = 0; dn < HD / 8; dn++) {
      acc[dn][0] = acc[dn][1] = acc[dn][2] = acc[dn][3] = 0.0f;
#pragma unroll
      for (int ks = 0; ks < N / 16; ks++) {
        const bf16 *bp = BS + (dn * 8 + gr) * LDN + ks * 16 + 2 * c;
        mma_bf16(acc[dn], ca[ks], *reinterpret_cast<const uint32_t *>(bp), *reinterpret_cast<const uint32_t *>(bp + 8));
      }
    }
    const float cA = scum[iA], cB = scum[iB], eA = __expf(cA), eB = __expf(cB);
#pragma unroll
    for (int dn = 0; dn < HD / 8; dn++) {
      acc[dn][0] *= eA;
      acc[dn][1] *= eA;
      acc[dn][2] *= eB;
      acc[dn][3] *= eB;
    }
#pragma unroll
    for (int kk = 0; kk < Q / 16; kk++) {
      if (kk * 16 > warp * 16 + 15) continue;  // above the diagonal: all zero
      // The decay-weighted, masked scores of key tiles 2kk and 2kk+1, packed
      // straight into the A fragment.
      float m[2][4];
#pragma unroll
      for (int half = 0; half < 2; half++) {
        int nt = 2 * kk + half;
#pragma unroll
        for (int e = 0; e < 2; e++) {
          int j = nt * 8 + 2 * c + e;
          float w = sdt[j], cj = scum[j];
          m[half][e] = j <= iA ? G[nt][e] * __expf(cA - cj) * w : 0.0f;
          m[half][2 + e] = j <= iB ? G[nt][2 + e] * __expf(cB - cj) * w : 0.0f;
        }
      }
      uint32_t pa[4] = {pack_bf16(m[0][0], m[0][1]), pack_bf16(m[0][2], m[0][3]), pack_bf16(m[1][0], m[1][1]),
                        pack_bf16(m[1][2], m[1][3])};
#pragma unroll
      for (int dn = 0; dn < HD / 8; dn++) {
        const bf16 *xp = Xs + (kk * 16 + 2 * c) * LDX + dn * 8 + gr;
        mma_bf16(acc[dn], pa, pack_bf16(xp[0], xp[LDX]), pack_bf16(xp[8 * LDX], xp[9 * LDX]));
      }
    }
    const float Dh = Dskip[h];
#pragma unroll
    for (int dn = 0; dn < HD / 8; dn++) {
      int p = dn * 8 + 2 * c;
      if (s0 + iA < L) {
        int t = reverse ? L - 1 - (s0 + iA) : s0 + iA;
        *reinterpret_cast<float2 *>(y + (long long)t * dinner + h * HD + p) =
            make_float2(acc[dn][0] + Dh * __bfloat162float(Xs[iA * LDX + p]),
                        acc[dn][1] + Dh * __bfloat162float(Xs[iA * LDX + p + 1]));
      }
      if (s0 + iB < L) {
        int t = reverse ? L - 1 - (s0 + iB) : s0 + iB;
        *reinterpret_cast<float2 *>(y + (long long)t * dinner + h * HD + p) =
            make_float2(acc[dn][2] + Dh * __bfloat162float(Xs[iB * LDX + p]),
                        acc[dn][3] + Dh * __bfloat162float(Xs[iB * LDX + p + 1]));
      }
    }
  }
}

// Entry points per (head dim, d_state). Grid (ceil(L/64), nh/hpb), 128
// threads; hpb divides the heads of one group.
#define SSD_TC_ENTRY(HD, N)                                                                                        \
  extern "C" __global__ void __launch_bounds__(128)                                                                \
      ssd_tc_state_##HD##_##N(const bf16 *xbc, const bf16 *dtraw, int dtstride, const float *dt_bias,              \
                              const float *A_log, float *states, float *chunk_dA, int L, int nh, int ngroups,       \
                              int hpb, int reverse) {                                                               \
    ssd_tc_state<HD, N>(xbc, dtraw, dtstride, dt_bias, A_log, states, chunk_dA, L, nh, ngroups, hpb, reverse);      \
  }                                                                                                                 \
  extern "C" __global__ void __launch_bounds__(128)                                                                \
      ssd_tc_output_##HD##_##N(const bf16 *xbc, const bf16 *dtraw, int dtstride, const float *dt_bias,             \
                               const float *A_log, const float *Dskip, float *y, const float *states, int L, int nh, \
                               int ngroups, int hpb, int reverse) {                                                 \
    ssd_tc_output<HD, N>(xbc, dtraw, dtstride, dt_bias, A_log, Dskip, y, states, L, nh, ngroups, hpb, reverse);     \
  }
SSD_TC_ENTRY(16, 16)
SSD_TC_ENTRY(32, 64)
SSD_TC_ENTRY(64, 64)
SSD_TC_ENTRY(64, 128)
