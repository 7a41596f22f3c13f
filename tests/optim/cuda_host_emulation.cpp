// Runs the CUDA kernels of csrc/cuda/*.cu on the host, so that tests on a machine without a GPU exercise
// the kernel source itself: the launch-table layouts packed by lrkit/optim/tables.py, the schedule kernel
// reading a group's descriptor and step counter, the chunk walks, the float4 and the scalar paths,
// bf16/fp16 conversions, grad_scale and found_inf, and the M-opt block reductions. Built by
// tests/optim/test_cuda_kernel_emulated.py with the host C++ compiler and the CUDA headers (nvcc's include
// folder), loaded with ctypes.
//
// Blocks run one after another. A plain Adam block's threads run one after another too (its one
// __syncthreads only publishes thread 0's shared-memory loads, which serial order already does); blocks
// with a tree reduction (the M-opt kernels, and an Adam block of a group that measures M-opt) run every
// thread as a std::thread with a std::barrier for __syncthreads. What this cannot show: warp-level timing and races beyond what
// the barrier orders, device FMA contraction, and speed. Those need a GPU
// (tests/optim/test_fused_adam_cuda.py).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <barrier>
#include <cstdint>
#include <thread>
#include <vector>

// The CUDA built-ins the kernels use, as host objects driven by the launch loops below.
#undef __global__
#undef __device__
#undef __shared__
#undef __launch_bounds__
#define __global__
#define __device__
#define __shared__ static  // one block runs at a time; every thread of it sees the same object
#define __launch_bounds__(...)
static thread_local uint3 lrkit_emu_thread_idx;
static uint3 lrkit_emu_block_idx;
static std::barrier<>* lrkit_emu_barrier = nullptr;  // set while a block runs on real threads
#define threadIdx lrkit_emu_thread_idx
#define blockIdx lrkit_emu_block_idx
static inline void __syncthreads() {
  if (lrkit_emu_barrier != nullptr) lrkit_emu_barrier->arrive_and_wait();
}

#define LRKIT_CUDA_HOST_EMULATION 1
#include "../../csrc/cuda/fused_adam_kernel.cu"
#include "../../csrc/cuda/mopt_kernel.cu"

// One block of n threads, each a std::thread, with a barrier for __syncthreads.
template <typename F>
static void run_block_threaded(unsigned block, unsigned n, F&& body) {
  lrkit_emu_block_idx = {block, 0, 0};
  std::barrier<> bar(static_cast<std::ptrdiff_t>(n));
  lrkit_emu_barrier = &bar;
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (unsigned t = 0; t < n; ++t) {
    threads.emplace_back([&body, t] {
      lrkit_emu_thread_idx = {t, 0, 0};
      body();
    });
  }
  for (auto& th : threads) th.join();
  lrkit_emu_barrier = nullptr;
}

// The launcher of fused_adam_kernel.cu (lrkit_fused_adam_cuda) with <<<grid, block>>> replaced by loops.
// A block of a group that measures M-opt runs on real threads (its reduction needs the barrier).
extern "C" int lrkit_emulate_fused_adam(const void* tensors, const void* chunks, int64_t n_chunks, int64_t chunk_size,
                                        const void* groups, int32_t n_groups, void* scratch, const float* grad_scale,
                                        const float* found_inf, int32_t mopt_measure) {
  using namespace lrkit;
  if (n_groups <= 0) return 0;  // as the launcher: the schedule kernel runs for groups without chunks too
  const auto* tt = static_cast<const TensorEntry*>(tensors);
  const auto* ct = static_cast<const ChunkEntry*>(chunks);
  const auto* gt = static_cast<const GroupEntry*>(groups);
  auto* steps = static_cast<AdamStep*>(scratch);
  auto* partials = reinterpret_cast<double*>(static_cast<char*>(scratch) + kStepStride * n_groups);
  for (int32_t b = 0; b < n_groups; ++b) {  // schedule_kernel<<<n_groups, kScheduleThreads>>>
    run_block_threaded(static_cast<unsigned>(b), kScheduleThreads, [&] { schedule_kernel(gt, steps, grad_scale); });
  }
  for (int64_t b = 0; b < n_chunks; ++b) {  // adam_kernel<<<n_chunks, kThreads>>>
    auto body = [&] { adam_kernel(tt, ct, chunk_size, steps, gt, found_inf, partials); };
    if (gt[tt[ct[b].tensor].group].mopt_mode == kMoptMeasure) {
      run_block_threaded(static_cast<unsigned>(b), kThreads, body);
    } else {
      lrkit_emu_block_idx = {static_cast<unsigned>(b), 0, 0};
      for (unsigned t = 0; t < static_cast<unsigned>(kThreads); ++t) {
        lrkit_emu_thread_idx = {t, 0, 0};
        body();
      }
    }
  }
  if (mopt_measure) {  // mopt_group_kernel<<<n_groups, kThreads>>>
    for (int32_t b = 0; b < n_groups; ++b) {
      run_block_threaded(static_cast<unsigned>(b), kThreads, [&] { mopt_group_kernel(gt, partials, found_inf); });
    }
  }
  return 0;
}

extern "C" int64_t lrkit_emulate_scratch_bytes(int64_t n_groups, int64_t n_chunks) {
  return lrkit_fused_adam_scratch_bytes(n_groups, n_chunks);
}

// The launcher of mopt_kernel.cu (lrkit_mopt_l1_cuda) with the two launches run block by block.
extern "C" int lrkit_emulate_mopt_l1(const void* tensors, const void* chunks, int64_t n_chunks, int64_t chunk_size,
                                     double* partials, double* out) {
  using namespace lrkit;
  if (n_chunks <= 0) {
    out[0] = out[1] = 0.0;
    return 0;
  }
  for (int64_t b = 0; b < n_chunks; ++b) {  // mopt_partial_kernel<<<n_chunks, kMoptThreads>>>
    run_block_threaded(static_cast<unsigned>(b), kMoptThreads, [&] {
      mopt_partial_kernel(static_cast<const MoptEntry*>(tensors), static_cast<const ChunkEntry*>(chunks), chunk_size,
                          partials);
    });
  }
  run_block_threaded(0, kMoptThreads, [&] { mopt_final_kernel(partials, n_chunks, out); });  // <<<1, kMoptThreads>>>
  return 0;
}
