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
  for (int c = 0; c < nchunks; c++) {
    float *p = states + (long long)c * n + e;
    float local = *p;
    *p = carry;
    carry = __expf(chunk_dA[c * nh + h]) * carry + local;
  }
}
