// A fixed-order tree sum of two float64 values across one CUDA block (shared by the kernels of
// csrc/cuda). Deterministic: the pairing depends only on the block size, never on timing. Every thread
// of the block must call it (it synchronises); afterwards every thread holds the block's totals.
#pragma once

namespace lrkit {

template <int kThreads>
__device__ __forceinline__ void block_sum_pair(double& a, double& b) {
  static_assert((kThreads & (kThreads - 1)) == 0, "block_sum_pair: the block size must be a power of two");
  __shared__ double r0[kThreads];
  __shared__ double r1[kThreads];
  r0[threadIdx.x] = a;
  r1[threadIdx.x] = b;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s) {
      r0[threadIdx.x] += r0[threadIdx.x + s];
      r1[threadIdx.x] += r1[threadIdx.x + s];
    }
    __syncthreads();
  }
  a = r0[0];
  b = r1[0];
}

}  // namespace lrkit
