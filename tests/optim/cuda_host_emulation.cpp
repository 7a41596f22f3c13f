// Runs the CUDA kernels of csrc/cuda/*.cu on the host, so that tests on a machine without a GPU exercise
// the kernel source itself: the launch-table layouts packed by lrkit/optim/tables.py, the schedule kernel
// reading a group's descriptors and step counter, the chunk walks, the vector and the scalar paths,
// bf16/fp16 conversions, grad_scale and found_inf, and the block reductions. Built by
// tests/optim/test_cuda_kernel_emulated.py with the host C++ compiler and the CUDA headers (nvcc's include
// folder), loaded with ctypes.
//
// Blocks run one after another. Every thread of a block is a fiber of its own (ucontext: its own stack and
// point of execution), and the threads run in a shuffled order (seeded: lrkit_emulate_seed) until each
// reaches a __syncthreads() or returns; the barrier opens when every thread of the block waits at it, and
// the next round runs them in another shuffled order. So a thread reads what another wrote before a
// barrier only where a barrier orders it: a missing barrier gives wrong results. Shared memory the
// kernels declare outside templates is filled with 0xFF bytes (NaN, -1) before every block, so a read
// before the write shows. A barrier some threads never reach (they returned, or reached a different number
// of barriers) fails the launch with a message naming the kernel, block and threads; a thread that neither
// reaches a barrier nor returns within the launch's time limit fails it too. What this cannot show:
// warp-level timing and races within one barrier interval, device FMA contraction, and speed. Those need a
// GPU (tests/optim/test_fused_adam_cuda.py).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <ucontext.h>

#include <algorithm>
#include <deque>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <future>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

// The CUDA built-ins the kernels use, as host objects driven by the launch loops below.
#undef __global__
#undef __device__
#undef __shared__
#undef __launch_bounds__
#define __global__
#define __device__
// one block runs at a time; every thread of it sees the same object
#define __shared__ static __attribute__((section("lrkit_emu_shared"), used))
#define __launch_bounds__(...)
extern "C" char __start_lrkit_emu_shared[], __stop_lrkit_emu_shared[];
static uint3 lrkit_emu_thread_idx;
static uint3 lrkit_emu_block_idx;
#define threadIdx lrkit_emu_thread_idx
#define blockIdx lrkit_emu_block_idx
static inline void __syncthreads();

// Elements each loop of the Adam kernel's update_chunk took (vector, unrolled, scalar), since the last read.
static int64_t lrkit_emu_path_counts[3];
#define LRKIT_COUNT_PATH(path, n) (lrkit_emu_path_counts[path] += (n))

#define LRKIT_CUDA_HOST_EMULATION 1
#include "../../csrc/cuda/fused_adam_kernel.cu"
#include "../../csrc/cuda/mopt_kernel.cu"

namespace {

constexpr size_t kFiberStack = 64 * 1024;

struct Fiber {
  ucontext_t ctx;
  std::vector<char> stack = std::vector<char>(kFiberStack);
  unsigned tid = 0;
  int barriers = 0;  // barriers reached so far in this block
  enum State { kReady, kWaiting, kDone } state = kReady;
};

struct Emulator {
  std::deque<Fiber> fibers;  // a deque: a fiber never moves while its context points into it
  ucontext_t scheduler;
  Fiber* current = nullptr;
  const std::function<void()>* body = nullptr;
  std::mt19937_64 rng{0};
  std::string error;  // the first failure of the launch
};

Emulator emu;

void fiber_main() {
  (*emu.body)();
  emu.current->state = Fiber::kDone;
  swapcontext(&emu.current->ctx, &emu.scheduler);
}

// One block of n threads of `kernel`: returns false (and sets emu.error) where a barrier cannot open.
bool run_block(const char* kernel, unsigned block, unsigned n, const std::function<void()>& body) {
  std::memset(__start_lrkit_emu_shared, 0xFF, static_cast<size_t>(__stop_lrkit_emu_shared - __start_lrkit_emu_shared));
  lrkit_emu_block_idx = {block, 0, 0};
  while (emu.fibers.size() < n) {
    emu.fibers.emplace_back();
    getcontext(&emu.fibers.back().ctx);  // once: makecontext below re-targets it for every block
  }
  emu.body = &body;
  std::vector<unsigned> order(n);
  std::iota(order.begin(), order.end(), 0u);
  for (unsigned t = 0; t < n; ++t) {
    Fiber& f = emu.fibers[t];
    f.tid = t;
    f.barriers = 0;
    f.state = Fiber::kReady;
    f.ctx.uc_stack.ss_sp = f.stack.data();
    f.ctx.uc_stack.ss_size = f.stack.size();
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, fiber_main, 0);
  }
  while (true) {
    std::shuffle(order.begin(), order.end(), emu.rng);
    for (unsigned t : order) {
      Fiber& f = emu.fibers[t];
      if (f.state != Fiber::kReady) continue;
      emu.current = &f;
      lrkit_emu_thread_idx = {t, 0, 0};
      swapcontext(&emu.scheduler, &f.ctx);
    }
    unsigned waiting = 0, done = 0;
    int lo = 1 << 30, hi = -1;
    for (unsigned t = 0; t < n; ++t) {
      const Fiber& f = emu.fibers[t];
      waiting += f.state == Fiber::kWaiting;
      done += f.state == Fiber::kDone;
      lo = std::min(lo, f.barriers);
      hi = std::max(hi, f.barriers);
    }
    if (done == n && lo == hi) return true;
    if (waiting == n && lo == hi) {  // every thread waits at the same barrier: it opens
      for (unsigned t = 0; t < n; ++t) emu.fibers[t].state = Fiber::kReady;
      continue;
    }
    // a barrier that cannot open: the waiting fibers are abandoned (their stacks are reused)
    char msg[320];
    std::snprintf(msg, sizeof msg, "%s, block %u: %u of %u threads wait at a __syncthreads() that the other %u never "
                  "reach (%u returned; barriers reached per thread range from %d to %d)",
                  kernel, block, waiting, n, n - waiting, done, lo, hi);
    emu.error = msg;
    return false;
  }
}

}  // namespace

static inline void __syncthreads() {
  Fiber* f = emu.current;
  ++f->barriers;
  f->state = Fiber::kWaiting;
  swapcontext(&f->ctx, &emu.scheduler);
}

// Elements per loop of update_chunk (vector, unrolled, scalar) since the last call, into out[3].
extern "C" void lrkit_emulate_path_counts(int64_t* out) {
  for (int k = 0; k < 3; ++k) out[k] = lrkit_emu_path_counts[k];
  std::memset(lrkit_emu_path_counts, 0, sizeof lrkit_emu_path_counts);
}

// Seeds the shuffled thread order of the launches that follow.
extern "C" void lrkit_emulate_seed(uint64_t seed) { emu.rng.seed(seed); }

// The first failure of the last launch (empty where it ran through).
extern "C" const char* lrkit_emulate_error() { return emu.error.c_str(); }

// Runs `launch` on a thread of its own and waits at most `limit_s` seconds: a kernel thread that spins
// forever (a wait no barrier ends) fails the launch instead of hanging the tests. Returns 0, or -1 with
// lrkit_emulate_error() set.
template <typename F>
static int with_time_limit(double limit_s, F&& launch) {
  emu.error.clear();
  std::packaged_task<void()> task(std::forward<F>(launch));
  auto done = task.get_future();
  std::thread worker(std::move(task));
  if (done.wait_for(std::chrono::duration<double>(limit_s)) == std::future_status::timeout) {
    worker.detach();  // it never ends; the failure is reported, the process goes on
    emu.error = "the launch ran past its time limit of " + std::to_string(limit_s) + " s: a thread of block " +
                std::to_string(lrkit_emu_block_idx.x) + " neither reached a __syncthreads() nor returned";
    return -1;
  }
  worker.join();
  return emu.error.empty() ? 0 : -1;
}

// The launch's time limit (seconds): far above what the tests' launches take, far below a CI timeout.
constexpr double kLaunchLimitS = 60.0;

// The launcher of fused_adam_kernel.cu (lrkit_fused_adam_cuda) with <<<grid, block>>> replaced by loops.
extern "C" int lrkit_emulate_fused_adam(const void* tensors, const void* chunks, int64_t n_chunks, int64_t chunk_size,
                                        const void* groups, int32_t n_groups, int32_t n_programs, void* scratch,
                                        const float* grad_scale, const float* found_inf, int32_t mopt_measure) {
  using namespace lrkit;
  if (n_groups <= 0) return 0;  // as the launcher: the schedule kernel runs for groups without chunks too
  return with_time_limit(kLaunchLimitS, [=] {
    const auto* tt = static_cast<const TensorEntry*>(tensors);
    const auto* ct = static_cast<const ChunkEntry*>(chunks);
    const auto* gt = static_cast<const GroupEntry*>(groups);
    auto* steps = static_cast<AdamStep*>(scratch);
    auto* partials = reinterpret_cast<double*>(static_cast<char*>(scratch) + kStepStride * n_programs);
    for (int32_t b = 0; b < n_groups; ++b) {  // schedule_kernel<<<n_groups, kScheduleThreads>>>
      if (!run_block("schedule_kernel", b, kScheduleThreads, [&] { schedule_kernel(gt, steps, grad_scale, found_inf); })) {
        return;
      }
    }
    for (int64_t b = 0; b < n_chunks; ++b) {  // adam_kernel<<<n_chunks, kThreads>>>
      if (!run_block("adam_kernel", static_cast<unsigned>(b), kThreads,
                     [&] { adam_kernel(tt, ct, chunk_size, steps, gt, found_inf, partials); })) {
        return;
      }
    }
    for (int32_t b = 0; mopt_measure && b < n_groups; ++b) {  // mopt_group_kernel<<<n_groups, kThreads>>>
      if (!run_block("mopt_group_kernel", b, kThreads, [&] { mopt_group_kernel(gt, partials, found_inf); })) return;
    }
  });
}

extern "C" int64_t lrkit_emulate_scratch_bytes(int64_t n_programs, int64_t n_chunks) {
  return lrkit_fused_adam_scratch_bytes(n_programs, n_chunks);
}

// The launcher of mopt_kernel.cu (lrkit_mopt_l1_cuda) with the two launches run block by block.
extern "C" int lrkit_emulate_mopt_l1(const void* tensors, const void* chunks, int64_t n_chunks, int64_t chunk_size,
                                     double* partials, double* out) {
  using namespace lrkit;
  if (n_chunks <= 0) {
    out[0] = out[1] = 0.0;
    return 0;
  }
  return with_time_limit(kLaunchLimitS, [=] {
    for (int64_t b = 0; b < n_chunks; ++b) {  // mopt_partial_kernel<<<n_chunks, kMoptThreads>>>
      if (!run_block("mopt_partial_kernel", static_cast<unsigned>(b), kMoptThreads, [&] {
            mopt_partial_kernel(static_cast<const MoptEntry*>(tensors), static_cast<const ChunkEntry*>(chunks),
                                chunk_size, partials);
          })) {
        return;
      }
    }
    run_block("mopt_final_kernel", 0, kMoptThreads, [&] { mopt_final_kernel(partials, n_chunks, out); });
  });
}
