// CUDA kernels of the M-opt L1 sums (004 §4.2, Formula 7) over three parameter snapshots (plain CUDA:
// no ATen, no CUDA math libraries, so .ci/run compiles this file with nvcc -c on a machine without a GPU).
//
//   out = ( sum |theta1 - theta0|,  sum |2 theta1 - theta0 - theta2| )   in float64, over every tensor
//
// One pass over the snapshots, deterministic (the same bits on every run of the same launch tables):
//   1. mopt_partial_kernel<<<n_chunks, kMoptThreads>>>: block b sums chunk b (chunk_size elements of one
//      tensor, packed by lrkit/optim/tables.py pack_mopt): each thread a strided float64 sum, then a
//      fixed tree reduction in shared memory; the block's two sums go to partials[2b], partials[2b + 1].
//   2. mopt_final_kernel<<<1, kMoptThreads>>>: the partials reduced the same way into out[0], out[1].
// No atomics, so the order of every addition is fixed by the tables alone.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "lrkit/block_reduce.cuh"
#include "lrkit/tables.h"

namespace lrkit {
namespace {

constexpr int kMoptThreads = 256;

__device__ __forceinline__ double load_f64(const MoptEntry& te, uint64_t base, int64_t i) {
  switch (te.dtype) {
    case kBF16: return static_cast<double>(__bfloat162float(reinterpret_cast<const __nv_bfloat16*>(base)[i]));
    case kF16: return static_cast<double>(__half2float(reinterpret_cast<const __half*>(base)[i]));
    case kF64: return reinterpret_cast<const double*>(base)[i];
    default: return static_cast<double>(reinterpret_cast<const float*>(base)[i]);
  }
}

__global__ void __launch_bounds__(kMoptThreads) mopt_partial_kernel(const MoptEntry* tensors, const ChunkEntry* chunks,
                                                                    int64_t chunk_size, double* partials) {
  const ChunkEntry c = chunks[blockIdx.x];
  const MoptEntry te = tensors[c.tensor];
  const int64_t end = c.start + chunk_size < te.numel ? c.start + chunk_size : te.numel;
  double s0 = 0.0, s1 = 0.0;
  for (int64_t i = c.start + threadIdx.x; i < end; i += kMoptThreads) {
    const double x0 = load_f64(te, te.x0, i), x1 = load_f64(te, te.x1, i), x2 = load_f64(te, te.x2, i);
    s0 += fabs(x1 - x0);
    s1 += fabs(2.0 * x1 - x0 - x2);
  }
  block_sum_pair<kMoptThreads>(s0, s1);
  if (threadIdx.x == 0) {
    partials[2 * blockIdx.x] = s0;
    partials[2 * blockIdx.x + 1] = s1;
  }
}

__global__ void __launch_bounds__(kMoptThreads) mopt_final_kernel(const double* partials, int64_t n_chunks, double* out) {
  double s0 = 0.0, s1 = 0.0;
  for (int64_t j = threadIdx.x; j < n_chunks; j += kMoptThreads) {
    s0 += partials[2 * j];
    s1 += partials[2 * j + 1];
  }
  block_sum_pair<kMoptThreads>(s0, s1);
  if (threadIdx.x == 0) {
    out[0] = s0;
    out[1] = s1;
  }
}

}  // namespace
}  // namespace lrkit

#if !defined(LRKIT_CUDA_HOST_EMULATION)  // tests/optim/cuda_host_emulation.cpp replaces the launcher
// C ABI for the ATen binding (csrc/cuda/mopt_cuda.cpp). partials: device memory for 2 * n_chunks doubles;
// out: 2 doubles (zeroed here when there is nothing to sum). Returns a cudaError_t.
extern "C" int lrkit_mopt_l1_cuda(const void* tensors, const void* chunks, int64_t n_chunks, int64_t chunk_size,
                                  double* partials, double* out, void* stream) {
  using namespace lrkit;
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  if (n_chunks <= 0) return static_cast<int>(cudaMemsetAsync(out, 0, 2 * sizeof(double), st));
  mopt_partial_kernel<<<static_cast<unsigned>(n_chunks), kMoptThreads, 0, st>>>(
      static_cast<const MoptEntry*>(tensors), static_cast<const ChunkEntry*>(chunks), chunk_size, partials);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return static_cast<int>(err);
  mopt_final_kernel<<<1, kMoptThreads, 0, st>>>(partials, n_chunks, out);
  return static_cast<int>(cudaGetLastError());
}
#endif  // !LRKIT_CUDA_HOST_EMULATION
