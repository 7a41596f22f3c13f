// CUDA kernel of lrkit::fused_adam_ (schema: csrc/ops.cpp; built only where torch has CUDA). The launch
// tables are packed by lrkit/optim/tables.py; this file checks them and the tensor lists, and calls the
// kernels of fused_adam_kernel.cu on the current stream. The kernels reach every tensor through the
// tables' addresses; the lists name what the step writes.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>
#include <torch/types.h>

#include "lrkit/tables.h"

extern "C" int lrkit_fused_adam_cuda(const void* tensors, const void* chunks, int64_t n_chunks, int64_t chunk_size,
                                     const void* groups, int32_t n_groups, int32_t n_programs, void* scratch,
                                     const float* grad_scale, const float* found_inf, int32_t mopt_measure,
                                     void* stream);
extern "C" int64_t lrkit_fused_adam_scratch_bytes(int64_t n_programs, int64_t n_chunks);

namespace lrkit {
namespace {

void fused_adam_cuda(at::TensorList params, at::TensorList grads, at::TensorList exp_avgs, at::TensorList exp_avg_sqs,
                     at::TensorList max_exp_avg_sqs, at::TensorList prev_deltas, at::TensorList steps,
                     at::TensorList lrs, at::TensorList mopt_sums, const at::Tensor& tables, const at::Tensor& scratch,
                     int64_t n_tensors, int64_t n_chunks, int64_t chunk_size, int64_t n_programs,
                     const std::optional<at::Tensor>& grad_scale, const std::optional<at::Tensor>& found_inf) {
  const int64_t n_groups = static_cast<int64_t>(steps.size());
  TORCH_CHECK(static_cast<int64_t>(lrs.size()) == n_groups && static_cast<int64_t>(mopt_sums.size()) <= n_groups,
              "lrkit.fused_adam_: one step counter and one lrs per group (", n_groups, "), and at most one mopt_sums "
              "per group, got ", lrs.size(), " and ", mopt_sums.size());
  const bool mopt_measure = !mopt_sums.empty();  // a group measures M-opt: the group reduction kernel runs
  // One tensor per param in the lists; the tables hold n_tensors entries, more than the params where a
  // policy bank's params are split into their replicas' slices.
  TORCH_CHECK(static_cast<int64_t>(params.size()) <= n_tensors && grads.size() == params.size() &&
                  exp_avgs.size() == params.size() && exp_avg_sqs.size() == params.size(),
              "lrkit.fused_adam_: the tensor lists must have one length, at most n_tensors = ", n_tensors);
  TORCH_CHECK(n_programs >= n_groups, "lrkit.fused_adam_: n_programs (", n_programs,
              ") must count every group's programs, at least n_groups = ", n_groups);
  // the AMSGrad maxima of the groups that use it (their addresses are in the tables; the list only
  // tells the dispatcher they are written)
  TORCH_CHECK(static_cast<int64_t>(max_exp_avg_sqs.size()) <= n_tensors,
              "lrkit.fused_adam_: max_exp_avg_sqs holds more tensors than the step (", n_tensors, ")");
  const int64_t bytes = n_tensors * int64_t(sizeof(TensorEntry)) + n_chunks * int64_t(sizeof(ChunkEntry)) +
                        n_groups * int64_t(sizeof(GroupEntry));
  TORCH_CHECK(tables.is_cuda() && tables.scalar_type() == at::kByte && tables.is_contiguous() && tables.numel() == bytes,
              "lrkit.fused_adam_: 'tables' must be a contiguous uint8 CUDA tensor of ", bytes, " bytes, got ",
              tables.numel());
  const int64_t scratch_bytes = lrkit_fused_adam_scratch_bytes(n_programs, n_chunks);
  TORCH_CHECK(scratch.is_cuda() && scratch.is_contiguous() && int64_t(scratch.nbytes()) >= scratch_bytes,
              "lrkit.fused_adam_: 'scratch' must be a contiguous CUDA tensor of at least ", scratch_bytes, " bytes");
  TORCH_CHECK(chunk_size > 0 && chunk_size % 4 == 0, "lrkit.fused_adam_: chunk_size must be a positive multiple of 4");
  for (const auto* opt : {&grad_scale, &found_inf}) {
    TORCH_CHECK(!opt->has_value() || ((*opt)->is_cuda() && (*opt)->scalar_type() == at::kFloat && (*opt)->numel() == 1),
                "lrkit.fused_adam_: grad_scale and found_inf must be one-element float32 CUDA tensors");
  }
  // The kernels read and write these tensors through the tables' raw addresses, in the layouts below: any
  // other dtype, size, device or layout would be an out-of-bounds or misread access on the device.
  const at::Device device = tables.device();
  const auto on_device = [&](const at::Tensor& t) { return t.is_cuda() && t.device() == device && t.is_contiguous(); };
  for (size_t k = 0; k < params.size(); ++k) {
    const at::Tensor& p = params[k];
    const at::ScalarType pt = p.scalar_type();
    TORCH_CHECK(on_device(p) && (pt == at::kFloat || pt == at::kBFloat16 || pt == at::kHalf),
                "lrkit.fused_adam_: param ", k, " must be a contiguous float32, bfloat16 or float16 tensor on ",
                device, ", got ", pt, " on ", p.device());
    TORCH_CHECK(on_device(grads[k]) && grads[k].scalar_type() == pt && grads[k].numel() == p.numel(),
                "lrkit.fused_adam_: grad ", k, " must be contiguous, on ", device, ", of its param's dtype (", pt,
                ") and size (", p.numel(), ")");
    for (const at::Tensor* s : {&exp_avgs[k], &exp_avg_sqs[k]}) {
      TORCH_CHECK(on_device(*s) && s->scalar_type() == at::kFloat && s->numel() == p.numel(),
                  "lrkit.fused_adam_: exp_avg and exp_avg_sq ", k, " must be contiguous float32 tensors on ", device,
                  " of ", p.numel(), " elements, got ", s->scalar_type(), " of ", s->numel(), " on ", s->device());
    }
  }
  for (const at::TensorList list : {max_exp_avg_sqs, prev_deltas}) {
    TORCH_CHECK(static_cast<int64_t>(list.size()) <= n_tensors,
                "lrkit.fused_adam_: max_exp_avg_sqs and prev_deltas hold at most one tensor per param");
  }
  for (const at::TensorList list : {steps, lrs, mopt_sums}) {
    for (const at::Tensor& x : list) {
      TORCH_CHECK(on_device(x) && x.scalar_type() == at::kDouble,
                  "lrkit.fused_adam_: step counters, lrs and mopt_sums must be contiguous float64 tensors on ", device);
    }
  }
  for (const at::Tensor& x : prev_deltas) {
    TORCH_CHECK(on_device(x) && x.scalar_type() == at::kFloat,
                "lrkit.fused_adam_: each prev_delta must be a contiguous float32 tensor on ", device);
  }
  for (const at::Tensor& x : max_exp_avg_sqs) {
    TORCH_CHECK(on_device(x) && x.scalar_type() == at::kFloat,
                "lrkit.fused_adam_: each max_exp_avg_sq must be a contiguous float32 tensor on ", device, ", got ",
                x.scalar_type(), " on ", x.device());
  }
  for (const auto* opt : {&grad_scale, &found_inf}) {
    TORCH_CHECK(!opt->has_value() || (*opt)->device() == device,
                "lrkit.fused_adam_: grad_scale and found_inf must be on the tables' device ", device);
  }
  TORCH_CHECK(scratch.device() == device, "lrkit.fused_adam_: 'scratch' must be on the tables' device ", device);
  const c10::cuda::CUDAGuard guard(device);  // launch on the tensors' device, whatever the current one is
  const uint8_t* base = tables.data_ptr<uint8_t>();
  const uint8_t* chunks = base + n_tensors * sizeof(TensorEntry);
  const uint8_t* groups = chunks + n_chunks * sizeof(ChunkEntry);
  const int err = lrkit_fused_adam_cuda(base, chunks, n_chunks, chunk_size, groups, static_cast<int32_t>(n_groups),
                                        static_cast<int32_t>(n_programs), scratch.data_ptr(), grad_scale.has_value() ? grad_scale->data_ptr<float>() : nullptr,
                                        found_inf.has_value() ? found_inf->data_ptr<float>() : nullptr,
                                        mopt_measure ? 1 : 0, c10::cuda::getCurrentCUDAStream(device.index()).stream());
  TORCH_CHECK(err == 0, "lrkit.fused_adam_: CUDA launch failed with error ", err);
}

}  // namespace

TORCH_LIBRARY_IMPL(lrkit, CUDA, m) { m.impl("fused_adam_", &fused_adam_cuda); }

}  // namespace lrkit
