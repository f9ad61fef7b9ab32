// Smoke-test kernels. The PTX beside this file (smoke_kernels.ptx, embedded in the assembly) is generated from this
// source by gen-ptx.sh with the clang that Debian ships (no CUDA toolkit needed) and committed, so the build needs no
// compiler and the driver JIT-compiles it for whatever GPU it finds (target sm_52: Maxwell and newer).
// Rules that keep these at copy bandwidth: 16-byte vector accesses (ld/st.global.v2.u64); the memtest kernels also use
// a grid-stride loop with four independent loads in flight per thread before the first use.
// The memtest pattern functions must stay bit-identical to MemoryPatterns.cs (the host verifier and unit tests).

#define KERNEL extern "C" __attribute__((global))
#define DEVICE static __attribute__((device)) __attribute__((always_inline)) inline
typedef unsigned long long u64;
typedef unsigned short u16;
typedef u64 v2 __attribute__((ext_vector_type(2)));

DEVICE u64 thread_index() {
  return (u64)(unsigned)__nvvm_read_ptx_sreg_ctaid_x() * (unsigned)__nvvm_read_ptx_sreg_ntid_x()
       + (unsigned)__nvvm_read_ptx_sreg_tid_x();
}
DEVICE u64 grid_stride() {
  return (u64)(unsigned)__nvvm_read_ptx_sreg_nctaid_x() * (unsigned)__nvvm_read_ptx_sreg_ntid_x();
}

// Device memory bandwidth: copies n 16-byte vectors; the host counts 2*16*n bytes (read + write). Launched with a grid
// that covers n (one vector per thread, as PyTorch's copy does): a persistent grid of 8 blocks per SM with 4 strided
// loads per thread reached 0.90x the driver's copy on an H100 and 0.88x on an H200; a covering grid reaches 1.0x.
// The loop only matters when n exceeds the largest grid.
KERNEL void gr_copy16(const v2* __restrict__ src, v2* __restrict__ dst, u64 n) {
  for (u64 i = thread_index(), s = grid_stride(); i < n; i += s) dst[i] = src[i];
}

// ---- memtest patterns: value of the 64-bit word with global index w at byte address a ----
// walking ones: one set bit that walks through all 64 positions along memory; seed rotates it.
DEVICE u64 pat_walk(u64 w, u64 a, u64 seed) { (void)a; return 1ull << ((w + seed) & 63); }
// seeded random: SplitMix64's output for state seed + (w+1)*gamma, counter-based so any word is regenerated alone.
DEVICE u64 pat_random(u64 w, u64 a, u64 seed) {
  (void)a;
  u64 z = seed + (w + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
// address in address: each word holds its own device address (xor seed; seed ~0 gives the inverted pass).
DEVICE u64 pat_address(u64 w, u64 a, u64 seed) { (void)w; return a ^ seed; }

// Error log record: {address, expected, actual}; errors[0] counts all mismatches, the first cap are logged.
DEVICE void record(u64* errors, u64* log, u64 cap, u64 a, u64 expected, u64 actual) {
  u64 k = __atomic_fetch_add(errors, 1ull, __ATOMIC_RELAXED);
  if (k < cap) { log[3 * k] = a; log[3 * k + 1] = expected; log[3 * k + 2] = actual; }
}
DEVICE void check(v2 got, u64 w, u64 a, u64 seed, u64 (*pat)(u64, u64, u64), u64* errors, u64* log, u64 cap) {
  u64 e0 = pat(w, a, seed), e1 = pat(w + 1, a + 8, seed);
  if (__builtin_expect(got.x != e0, 0)) record(errors, log, cap, a, e0, got.x);
  if (__builtin_expect(got.y != e1, 0)) record(errors, log, cap, a + 8, e1, got.y);
}

// base: chunk start; n: 16-byte vectors in the chunk; word0: global index of the chunk's first word (so the random
// and walking patterns continue across chunks).
#define MEMTEST(NAME, PAT)                                                                                     \
  KERNEL void gr_mt_write_##NAME(v2* __restrict__ base, u64 n, u64 word0, u64 seed) {                          \
    u64 b = (u64)base;                                                                                         \
    for (u64 i = thread_index(), s = grid_stride(); i < n; i += s) {                                           \
      u64 w = word0 + 2 * i, a = b + 16 * i;                                                                   \
      v2 v; v.x = PAT(w, a, seed); v.y = PAT(w + 1, a + 8, seed);                                              \
      base[i] = v;                                                                                             \
    }                                                                                                          \
  }                                                                                                            \
  KERNEL void gr_mt_verify_##NAME(const v2* __restrict__ base, u64 n, u64 word0, u64 seed,                     \
                                  u64* __restrict__ errors, u64* __restrict__ log, u64 cap) {                  \
    u64 b = (u64)base, i = thread_index(), s = grid_stride();                                                  \
    for (; i + 3 * s < n; i += 4 * s) {                                                                        \
      v2 g0 = base[i], g1 = base[i + s], g2 = base[i + 2 * s], g3 = base[i + 3 * s];                           \
      check(g0, word0 + 2 * i, b + 16 * i, seed, PAT, errors, log, cap);                                       \
      check(g1, word0 + 2 * (i + s), b + 16 * (i + s), seed, PAT, errors, log, cap);                           \
      check(g2, word0 + 2 * (i + 2 * s), b + 16 * (i + 2 * s), seed, PAT, errors, log, cap);                   \
      check(g3, word0 + 2 * (i + 3 * s), b + 16 * (i + 3 * s), seed, PAT, errors, log, cap);                   \
    }                                                                                                          \
    for (; i < n; i += s) check(base[i], word0 + 2 * i, b + 16 * i, seed, PAT, errors, log, cap);              \
  }

MEMTEST(walk, pat_walk)
MEMTEST(random, pat_random)
MEMTEST(address, pat_address)

// Fallback GEMM when no cuBLAS is found: C[m,n] = sum_k A[m,k] * B[k,n], row-major, bf16 inputs, fp32 accumulate and
// output. 16x16 shared-memory tiles, one output per thread: plain FMA, no tensor cores, so expect a few % of the
// card's bf16 tensor spec (the smoke check says so). Launch with 16x16 blocks and a grid of ceil(n/16) x ceil(m/16).
DEVICE float bf16_to_float(u16 h) { return __builtin_bit_cast(float, (unsigned)h << 16); }
KERNEL void gr_gemm_bf16_f32(const u16* __restrict__ A, const u16* __restrict__ B, float* __restrict__ C,
                             unsigned m, unsigned n, unsigned k) {
  __attribute__((shared)) float as[16][17];
  __attribute__((shared)) float bs[16][17];
  unsigned tx = __nvvm_read_ptx_sreg_tid_x(), ty = __nvvm_read_ptx_sreg_tid_y();
  unsigned row = __nvvm_read_ptx_sreg_ctaid_y() * 16 + ty, col = __nvvm_read_ptx_sreg_ctaid_x() * 16 + tx;
  float acc = 0.0f;
  for (unsigned t = 0; t < k; t += 16) {
    as[ty][tx] = (row < m && t + tx < k) ? bf16_to_float(A[(u64)row * k + t + tx]) : 0.0f;
    bs[ty][tx] = (col < n && t + ty < k) ? bf16_to_float(B[(u64)(t + ty) * n + col]) : 0.0f;
    __syncthreads();
#pragma unroll
    for (unsigned j = 0; j < 16; ++j) acc += as[ty][j] * bs[j][tx];
    __syncthreads();
  }
  if (row < m && col < n) C[(u64)row * n + col] = acc;
}
