// Runs the CUDA kernels of csrc/cuda/fused_adam_kernel.cu on the host, one block and one thread at a
// time, so that tests on a machine without a GPU exercise the kernel source itself: the launch-table
// layouts packed by lrkit/optim/tables.py, the schedule kernel reading a group's descriptor and step
// counter, the chunk walk, the float4 and the scalar paths, bf16/fp16 conversions, grad_scale and
// found_inf. Built by tests/optim/test_cuda_kernel_emulated.py with the host C++ compiler and the CUDA
// headers (nvcc's include folder), loaded with ctypes.
//
// What this cannot show: anything that depends on threads running concurrently (races, the
// __syncthreads in adam_kernel — serial order makes thread 0's shared-memory writes visible to the
// others, which is what the barrier guarantees on a GPU), device FMA contraction, and speed. Those
// need a GPU (tests/optim/test_fused_adam_cuda.py).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

// The CUDA built-ins the kernel uses, as host objects driven by the launch loops below.
#undef __global__
#undef __device__
#undef __shared__
#undef __launch_bounds__
#define __global__
#define __device__
#define __shared__ static  // one block runs at a time; every thread of it sees the same object
#define __launch_bounds__(...)
static uint3 lrkit_emu_thread_idx, lrkit_emu_block_idx;
#define threadIdx lrkit_emu_thread_idx
#define blockIdx lrkit_emu_block_idx
static inline void __syncthreads() {}

#define LRKIT_CUDA_HOST_EMULATION 1
#include "../../csrc/cuda/fused_adam_kernel.cu"

// The launcher of fused_adam_kernel.cu (lrkit_fused_adam_cuda) with <<<grid, block>>> replaced by loops.
extern "C" int lrkit_emulate_fused_adam(const void* tensors, const void* chunks, int64_t n_chunks, int64_t chunk_size,
                                        const void* groups, int32_t n_groups, void* step_scratch,
                                        const float* grad_scale, const float* found_inf) {
  using namespace lrkit;
  if (n_groups <= 0 || n_chunks <= 0) return 0;
  lrkit_emu_thread_idx = {0, 0, 0};
  for (int32_t b = 0; b < n_groups; ++b) {  // schedule_kernel<<<n_groups, 1>>>
    lrkit_emu_block_idx = {static_cast<unsigned>(b), 0, 0};
    schedule_kernel(static_cast<const GroupEntry*>(groups), static_cast<AdamStep*>(step_scratch), grad_scale);
  }
  for (int64_t b = 0; b < n_chunks; ++b) {  // adam_kernel<<<n_chunks, kThreads>>>
    lrkit_emu_block_idx = {static_cast<unsigned>(b), 0, 0};
    for (unsigned t = 0; t < static_cast<unsigned>(kThreads); ++t) {
      lrkit_emu_thread_idx = {t, 0, 0};
      adam_kernel(static_cast<const TensorEntry*>(tensors), static_cast<const ChunkEntry*>(chunks), chunk_size,
                  static_cast<const AdamStep*>(step_scratch), found_inf);
    }
  }
  return 0;
}

extern "C" int64_t lrkit_emulate_adam_step_record_size() { return static_cast<int64_t>(sizeof(lrkit::AdamStep)); }
