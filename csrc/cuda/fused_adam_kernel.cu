// CUDA kernels of the fused Adam-with-schedule step (plain CUDA: no ATen, no CUDA math libraries, so
// .ci/run compiles this file with nvcc -c for sm_80 and sm_90 on a machine without a GPU).
//
// One step of every parameter group in two launches (three on an M-opt measure step), no host
// synchronisation:
//   1. schedule_kernel<<<n_groups, 32>>>: eta(t) of each group's compiled policy, or of each of the K
//      policies of a policy bank (a warp loads a program into shared memory, one thread runs it), the bias
//      corrections for step t + 1, written as an AdamStep per program and to lr_out; then the group's
//      step counter t advances by 1 - found_inf.
//   2. adam_kernel<<<n_chunks, 256>>>: each block updates chunk_size elements of one tensor with its
//      group's AdamStep (four elements per access where p, g, m, v, and AMSGrad's vmax, are aligned: 16-byte
//      loads of float, 8-byte loads of bf16/fp16; four independent loads per thread where not), skipping
//      everything when found_inf is set (AMP). A tensor takes the AdamStep of its group's program
//      `replica` (slice k of a policy bank's params: its own TensorEntry).
//      Streaming M-opt (004 Formula 7, as the CPU kernel): a group in "record" mode also stores this
//      step's update Delta = p_new - p_old in its float32 prev buffers; in "measure" mode each block sums
//      (|Delta_prev|, |Delta_prev - Delta|) in float64 and reduces them in a fixed order to partials.
//   3. mopt_group_kernel<<<n_groups, 256>>> (measure steps only): each measuring group's chunk partials,
//      reduced in a fixed order, into its mopt_sums. Deterministic: no atomics anywhere.
// The launch tables (tensors, chunks, groups) live in device memory; a captured CUDA graph replays
// them, and a live policy edit rewrites only a group's descriptor buffers.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "lrkit/adam.h"
#include "lrkit/block_reduce.cuh"
#include "lrkit/program.h"
#include "lrkit/tables.h"

namespace lrkit {
namespace {

constexpr int kThreads = 256;

constexpr int kScheduleThreads = 32;  // one warp per group

// One block (a warp) per group, for each of the group's programs (one, or K of a policy bank) in turn: the
// warp copies the program (consts into the register file, code beside it) into shared memory, 32
// independent loads at a time; then thread 0 interprets it from shared memory, so no instruction waits on a
// global load, and writes the program's AdamStep record and LR. Last, thread 0 advances the group's step
// counter by 1 - found_inf (after the barrier that follows every thread's read of it), so no separate
// kernel does it.
__global__ void __launch_bounds__(kScheduleThreads) schedule_kernel(const GroupEntry* groups, AdamStep* steps,
                                                                    const float* grad_scale, const float* found_inf) {
  __shared__ double regs[kMaxRegisters];
  __shared__ int32_t code[4 * kMaxRegisters];
  const GroupEntry& g = groups[blockIdx.x];
  double* step = reinterpret_cast<double*>(g.step);
  const double t = *step;
  const double scale = grad_scale != nullptr ? static_cast<double>(*grad_scale) : 1.0;
  for (int32_t k = 0; k < g.n_programs; ++k) {
    const int32_t* meta = reinterpret_cast<const int32_t*>(g.meta) + 4 * k;
    const int32_t n_code = meta[0], n_consts = meta[1], out = meta[2];
    const double* consts = reinterpret_cast<const double*>(g.consts) + kMaxRegisters * k;
    const int32_t* gcode = reinterpret_cast<const int32_t*>(g.code) + 4 * kMaxRegisters * k;
    for (int32_t i = threadIdx.x; i < n_consts; i += kScheduleThreads) regs[1 + i] = consts[i];
    for (int32_t i = threadIdx.x; i < 4 * n_code; i += kScheduleThreads) code[i] = gcode[i];
    __syncthreads();  // every load above is visible to thread 0 below
    if (threadIdx.x == 0) {
      const double lr = run_loaded_program(code, n_code, n_consts, out, t, regs);
      reinterpret_cast<double*>(g.lr_out)[k] = lr;
      steps[g.first_step + k] = make_adam_step(lr, t + 1.0, g.beta1, g.beta2, g.eps, g.weight_decay,
                                               (g.flags & kFlagDecoupled) != 0, (g.flags & kFlagMaximize) != 0,
                                               scale, (g.flags & kFlagAmsgrad) != 0);
    }
    __syncthreads();  // thread 0 has run the program before the next one overwrites the shared copy
  }
  if (threadIdx.x == 0) *step = t + ((found_inf != nullptr && *found_inf != 0.0f) ? 0.0 : 1.0);
}

template <typename T> __device__ __forceinline__ float to_f(T x);
template <> __device__ __forceinline__ float to_f<float>(float x) { return x; }
template <> __device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 x) { return __bfloat162float(x); }
template <> __device__ __forceinline__ float to_f<__half>(__half x) { return __half2float(x); }
template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }

// A: AMSGrad (the group's running maxima at te.vmax are read and written; otherwise never touched)
// S (AMP): the grads are unscaled in place (g / grad_scale stored back, as torch's fused Adam does) and the
// update takes the float quotient, so adam_element_t is instantiated without scaling.
template <typename T, bool S>
__device__ __forceinline__ float load_grad(T* g, int64_t i, const AdamStep& s) {
  float gi = to_f<T>(g[i]);
  if (S) {
    gi = gi / s.grad_scale;
    g[i] = from_f<T>(gi);
  }
  return gi;
}

// Which loop of update_chunk took an element (the host emulation counts them; nothing on the device).
enum UpdatePath : int { kPathVector = 0, kPathUnrolled = 1, kPathScalar = 2 };
#ifndef LRKIT_COUNT_PATH
#define LRKIT_COUNT_PATH(path, n)
#endif

// Four consecutive elements of T as one access: 16 bytes for float, 8 bytes for bf16/fp16.
template <typename T>
struct alignas(4 * sizeof(T)) Pack4 {
  T v[4];
};

template <typename T>
__device__ __forceinline__ void load4(const T* src, float (&out)[4]) {
  const Pack4<T> x = *reinterpret_cast<const Pack4<T>*>(src);
#pragma unroll
  for (int k = 0; k < 4; ++k) out[k] = to_f<T>(x.v[k]);
}

template <typename T>
__device__ __forceinline__ void store4(T* dst, const float (&in)[4]) {
  Pack4<T> x;
#pragma unroll
  for (int k = 0; k < 4; ++k) x.v[k] = from_f<T>(in[k]);
  *reinterpret_cast<Pack4<T>*>(dst) = x;
}

// Elements [start, end) of one tensor, three ways:
//   vector: where p and g are aligned to 4 elements and m, v (and vmax) to 16 bytes, four consecutive
//     elements per thread and access (16-byte float4 for fp32, 8-byte loads for bf16/fp16);
//   unrolled (a misaligned tensor): four elements per thread a kThreads apart, all loaded before any is
//     computed, so four loads per stream are in flight and each warp's accesses stay coalesced;
//   scalar: the last elements of either.
template <typename T, bool S, bool A>
__device__ void update_chunk(const TensorEntry& te, int64_t start, int64_t end, const AdamStep& s) {
  T* __restrict__ p = reinterpret_cast<T*>(te.p);  // distinct tensors: no aliasing between the streams
  T* __restrict__ g = reinterpret_cast<T*>(te.g);
  float* __restrict__ m = reinterpret_cast<float*>(te.m);
  float* __restrict__ v = reinterpret_cast<float*>(te.v);
  float* __restrict__ x = reinterpret_cast<float*>(te.vmax);
  int64_t i = start + threadIdx.x;
  const uint64_t vec_bytes = 4 * sizeof(T);
  const bool aligned = ((te.p | te.g) % vec_bytes) == 0 && ((te.m | te.v | (A ? te.vmax : 0)) & 15) == 0 &&
                       (start & 3) == 0;
  if (aligned) {
    const int64_t vec_end = start + ((end - start) & ~int64_t(3));
    for (int64_t j = start + 4 * threadIdx.x; j < vec_end; j += 4 * kThreads) {
      float pf[4], gf[4], mf[4], vf[4], xf[4];
      load4<T>(p + j, pf);
      load4<T>(g + j, gf);
      load4<float>(m + j, mf);
      load4<float>(v + j, vf);
      if (A) load4<float>(x + j, xf);
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        if (S) gf[k] = gf[k] / s.grad_scale;
        if (!A) xf[k] = vf[k];
        pf[k] = adam_element_t<false, kFromStep, kFromStep, A>(pf[k], gf[k], mf[k], vf[k], xf[k], s);
      }
      if (S) store4<T>(g + j, gf);
      store4<T>(p + j, pf);
      store4<float>(m + j, mf);
      store4<float>(v + j, vf);
      if (A) store4<float>(x + j, xf);
      LRKIT_COUNT_PATH(kPathVector, 4);
    }
    i = vec_end + threadIdx.x;
  } else {
    for (; i + 3 * kThreads < end; i += 4 * kThreads) {
      float pf[4], gf[4], mf[4], vf[4], xf[4];
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const int64_t e = i + k * kThreads;
        pf[k] = to_f<T>(p[e]);
        gf[k] = to_f<T>(g[e]);
        mf[k] = m[e];
        vf[k] = v[e];
        xf[k] = A ? x[e] : 0.0f;
      }
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const int64_t e = i + k * kThreads;
        if (S) {
          gf[k] = gf[k] / s.grad_scale;
          g[e] = from_f<T>(gf[k]);
        }
        p[e] = from_f<T>(adam_element_t<false, kFromStep, kFromStep, A>(pf[k], gf[k], mf[k], vf[k], xf[k], s));
        m[e] = mf[k];
        v[e] = vf[k];
        if (A) x[e] = xf[k];
      }
      LRKIT_COUNT_PATH(kPathUnrolled, 4);
    }
  }
  for (; i < end; i += kThreads) {
    float mi = m[i], vi = v[i];
    float xi = A ? x[i] : 0.0f;
    p[i] = from_f<T>(adam_element_t<false, kFromStep, kFromStep, A>(to_f<T>(p[i]), load_grad<T, S>(g, i, s), mi, vi, xi, s));
    m[i] = mi;
    v[i] = vi;
    if (A) x[i] = xi;
    LRKIT_COUNT_PATH(kPathScalar, 1);
  }
}

// The update of an M-opt step (scalar loads): as the CPU kernel's adam_range_mopt, Delta is the stored
// param (rounded to its dtype) minus the old one, in double; a, b: this thread's running sums.
template <typename T, bool S, bool A>
__device__ void update_chunk_mopt(const TensorEntry& te, int64_t start, int64_t end, const AdamStep& s, int32_t mode,
                                  double& a, double& b) {
  T* __restrict__ p = reinterpret_cast<T*>(te.p);  // distinct tensors: no aliasing between the streams
  T* __restrict__ g = reinterpret_cast<T*>(te.g);
  float* __restrict__ m = reinterpret_cast<float*>(te.m);
  float* __restrict__ v = reinterpret_cast<float*>(te.v);
  float* __restrict__ x = reinterpret_cast<float*>(te.vmax);
  float* prev = reinterpret_cast<float*>(te.prev);
  for (int64_t i = start + threadIdx.x; i < end; i += kThreads) {
    float mi = m[i], vi = v[i];
    float xi = A ? x[i] : 0.0f;
    const float old = to_f<T>(p[i]);
    const T stored = from_f<T>(adam_element_t<false, kFromStep, kFromStep, A>(old, load_grad<T, S>(g, i, s), mi, vi, xi, s));
    p[i] = stored;
    m[i] = mi;
    v[i] = vi;
    if (A) x[i] = xi;
    const double delta = static_cast<double>(to_f<T>(stored)) - static_cast<double>(old);
    if (mode == kMoptRecord) {
      prev[i] = static_cast<float>(delta);
    } else {
      a += fabs(static_cast<double>(prev[i]));
      b += fabs(static_cast<double>(prev[i]) - delta);
    }
  }
}

// The chunk update for the step's flags: the param dtype, AMP unscaling (S) and AMSGrad (A) are template
// arguments (12 instantiations per M-opt mode); maximize and the weight-decay mode are read at run time.
struct ChunkUpdate {
  const TensorEntry* te;
  int64_t start, end;
  const AdamStep* s;
  int32_t mode;  // MoptMode of the tensor's group
  double* a;
  double* b;
  template <bool S, bool A>
  __device__ void run() const {
    if (mode == kMoptOff) {
      switch (te->dtype) {
        case kBF16: update_chunk<__nv_bfloat16, S, A>(*te, start, end, *s); break;
        case kF16: update_chunk<__half, S, A>(*te, start, end, *s); break;
        default: update_chunk<float, S, A>(*te, start, end, *s); break;
      }
    } else {
      switch (te->dtype) {
        case kBF16: update_chunk_mopt<__nv_bfloat16, S, A>(*te, start, end, *s, mode, *a, *b); break;
        case kF16: update_chunk_mopt<__half, S, A>(*te, start, end, *s, mode, *a, *b); break;
        default: update_chunk_mopt<float, S, A>(*te, start, end, *s, mode, *a, *b); break;
      }
    }
  }
  __device__ void operator()() const {
    const bool scale = s->grad_scale != 1.0f;
    if (scale) {
      s->amsgrad ? run<true, true>() : run<true, false>();
    } else {
      s->amsgrad ? run<false, true>() : run<false, false>();
    }
  }
};

__global__ void __launch_bounds__(kThreads) adam_kernel(const TensorEntry* tensors, const ChunkEntry* chunks,
                                                        int64_t chunk_size, const AdamStep* steps,
                                                        const GroupEntry* groups, const float* found_inf,
                                                        double* partials) {
  if (found_inf != nullptr && *found_inf != 0.0f) return;
  __shared__ AdamStep s;
  __shared__ TensorEntry te;
  __shared__ int32_t mode;
  const ChunkEntry c = chunks[blockIdx.x];
  if (threadIdx.x == 0) {
    te = tensors[c.tensor];
    const GroupEntry& g = groups[te.group];
    s = steps[g.first_step + te.replica];
    mode = g.mopt_mode;
  }
  __syncthreads();
  const int64_t end = c.start + chunk_size < te.numel ? c.start + chunk_size : te.numel;
  double a = 0.0, b = 0.0;
  ChunkUpdate{&te, c.start, end, &s, mode, &a, &b}();
  if (mode == kMoptMeasure) {  // the same for every thread of the block
    block_sum_pair<kThreads>(a, b);
    if (threadIdx.x == 0) {
      partials[2 * blockIdx.x] = a;
      partials[2 * blockIdx.x + 1] = b;
    }
  }
}

__global__ void __launch_bounds__(kThreads) mopt_group_kernel(const GroupEntry* groups, const double* partials,
                                                              const float* found_inf) {
  if (found_inf != nullptr && *found_inf != 0.0f) return;  // a skipped step measures nothing
  const GroupEntry g = groups[blockIdx.x];
  if (g.mopt_mode != kMoptMeasure) return;  // the same for every thread of the block
  double a = 0.0, b = 0.0;
  for (int64_t j = threadIdx.x; j < g.n_chunks; j += kThreads) {
    a += partials[2 * (g.first_chunk + j)];
    b += partials[2 * (g.first_chunk + j) + 1];
  }
  block_sum_pair<kThreads>(a, b);
  if (threadIdx.x == 0) {
    double* out = reinterpret_cast<double*>(g.mopt_sums);
    out[0] = a;
    out[1] = b;
  }
}

// Scratch of a step: the n_programs AdamStep records (a region of 64 bytes per program, a group's one after
// another from its first_step), then 2 float64 partials per chunk.
constexpr int64_t kStepStride = 64;
static_assert(sizeof(AdamStep) <= kStepStride, "AdamStep must fit its scratch slot");

}  // namespace
}  // namespace lrkit

// Bytes of the scratch a step needs (the binding checks it; FusedAdam allocates it). n_programs: the
// groups' programs together (a group's one, or K of a policy bank).
extern "C" int64_t lrkit_fused_adam_scratch_bytes(int64_t n_programs, int64_t n_chunks) {
  return lrkit::kStepStride * n_programs + 2 * static_cast<int64_t>(sizeof(double)) * n_chunks;
}

#if !defined(LRKIT_CUDA_HOST_EMULATION)  // tests/optim/cuda_host_emulation.cpp replaces the launcher with loops
// C ABI for the ATen binding (csrc/cuda/fused_adam_cuda.cpp). Returns a cudaError_t.
// scratch: device memory of lrkit_fused_adam_scratch_bytes(n_programs, n_chunks) bytes. Pointers may be null
// for grad_scale/found_inf. mopt_measure: some group measures M-opt in this step (launches kernel 3).
extern "C" int lrkit_fused_adam_cuda(const void* tensors, const void* chunks, int64_t n_chunks, int64_t chunk_size,
                                     const void* groups, int32_t n_groups, int32_t n_programs, void* scratch,
                                     const float* grad_scale, const float* found_inf, int32_t mopt_measure,
                                     void* stream) {
  using namespace lrkit;
  // The schedule kernel runs whenever there is a group, chunks or not: it advances the step counts, and
  // lr_out must follow them, for a group of empty tensors too.
  if (n_groups <= 0) return static_cast<int>(cudaSuccess);
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  AdamStep* steps = static_cast<AdamStep*>(scratch);
  double* partials = reinterpret_cast<double*>(static_cast<char*>(scratch) + kStepStride * n_programs);
  const GroupEntry* gt = static_cast<const GroupEntry*>(groups);
  schedule_kernel<<<n_groups, kScheduleThreads, 0, st>>>(gt, steps, grad_scale, found_inf);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return static_cast<int>(err);
  if (n_chunks > 0) {
    adam_kernel<<<static_cast<unsigned>(n_chunks), kThreads, 0, st>>>(
        static_cast<const TensorEntry*>(tensors), static_cast<const ChunkEntry*>(chunks), chunk_size, steps, gt,
        found_inf, partials);
    err = cudaGetLastError();
  }
  if (err != cudaSuccess || !mopt_measure) return static_cast<int>(err);
  mopt_group_kernel<<<n_groups, kThreads, 0, st>>>(gt, partials, found_inf);
  return static_cast<int>(cudaGetLastError());
}

#endif  // !LRKIT_CUDA_HOST_EMULATION
