// A fixed-order tree reduction of two float64 sums across one CUDA block (shared by the kernels of
// csrc/cuda). Deterministic: the pairing depends only on the block size, never on timing. Every thread
// of the block must call it (it synchronises); r0/r1 are shared arrays of kThreads values, which it
// reduces into r0[0], r1[0].
#pragma once

namespace lrkit {

template <int kThreads>
__device__ __forceinline__ void block_reduce_pair(double* r0, double* r1) {
  static_assert((kThreads & (kThreads - 1)) == 0, "block_reduce_pair: the block size must be a power of two");
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s) {
      r0[threadIdx.x] += r0[threadIdx.x + s];
      r1[threadIdx.x] += r1[threadIdx.x + s];
    }
    __syncthreads();
  }
}

}  // namespace lrkit
