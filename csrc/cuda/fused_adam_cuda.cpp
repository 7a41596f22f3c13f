// ATen binding of the CUDA step (built only where torch has CUDA): lrkit::fused_adam_multi_ on CUDA.
// The launch tables are packed by lrkit/optim/tables.py; this file checks them and calls the kernels
// of fused_adam_kernel.cu on the current stream.
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>
#include <torch/types.h>

#include "lrkit/tables.h"

extern "C" int lrkit_fused_adam_cuda(const void* tensors, const void* chunks, int64_t n_chunks, int64_t chunk_size,
                                     const void* groups, int32_t n_groups, void* scratch, const float* grad_scale,
                                     const float* found_inf, int32_t mopt_measure, void* stream);
extern "C" int64_t lrkit_fused_adam_scratch_bytes(int64_t n_groups, int64_t n_chunks);

namespace lrkit {
namespace {

void fused_adam_multi_cuda(at::TensorList params, at::TensorList grads, at::TensorList exp_avgs,
                           at::TensorList exp_avg_sqs, at::TensorList max_exp_avg_sqs, const at::Tensor& tables,
                           int64_t n_tensors, int64_t n_chunks, int64_t chunk_size, int64_t n_groups, const at::Tensor& scratch,
                           const std::optional<at::Tensor>& grad_scale, const std::optional<at::Tensor>& found_inf,
                           bool mopt_measure) {
  TORCH_CHECK(static_cast<int64_t>(params.size()) == n_tensors && grads.size() == params.size() &&
                  exp_avgs.size() == params.size() && exp_avg_sqs.size() == params.size(),
              "lrkit.fused_adam_multi_: the tensor lists must hold n_tensors = ", n_tensors, " tensors");
  // the AMSGrad maxima of the groups that use it (their addresses are in the tables; the list only
  // tells the dispatcher they are written)
  TORCH_CHECK(static_cast<int64_t>(max_exp_avg_sqs.size()) <= n_tensors,
              "lrkit.fused_adam_multi_: max_exp_avg_sqs holds more tensors than the step (", n_tensors, ")");
  const int64_t bytes = n_tensors * int64_t(sizeof(TensorEntry)) + n_chunks * int64_t(sizeof(ChunkEntry)) +
                        n_groups * int64_t(sizeof(GroupEntry));
  TORCH_CHECK(tables.is_cuda() && tables.scalar_type() == at::kByte && tables.is_contiguous() && tables.numel() == bytes,
              "lrkit.fused_adam_multi_: 'tables' must be a contiguous uint8 CUDA tensor of ", bytes, " bytes, got ",
              tables.numel());
  const int64_t scratch_bytes = lrkit_fused_adam_scratch_bytes(n_groups, n_chunks);
  TORCH_CHECK(scratch.is_cuda() && scratch.is_contiguous() && int64_t(scratch.nbytes()) >= scratch_bytes,
              "lrkit.fused_adam_multi_: 'scratch' must be a contiguous CUDA tensor of at least ", scratch_bytes, " bytes");
  TORCH_CHECK(chunk_size > 0 && chunk_size % 4 == 0, "lrkit.fused_adam_multi_: chunk_size must be a positive multiple of 4");
  for (const auto* opt : {&grad_scale, &found_inf}) {
    TORCH_CHECK(!opt->has_value() || ((*opt)->is_cuda() && (*opt)->scalar_type() == at::kFloat && (*opt)->numel() == 1),
                "lrkit.fused_adam_multi_: grad_scale and found_inf must be one-element float32 CUDA tensors");
  }
  const uint8_t* base = tables.data_ptr<uint8_t>();
  const uint8_t* chunks = base + n_tensors * sizeof(TensorEntry);
  const uint8_t* groups = chunks + n_chunks * sizeof(ChunkEntry);
  const int err = lrkit_fused_adam_cuda(base, chunks, n_chunks, chunk_size, groups, static_cast<int32_t>(n_groups),
                                        scratch.data_ptr(), grad_scale.has_value() ? grad_scale->data_ptr<float>() : nullptr,
                                        found_inf.has_value() ? found_inf->data_ptr<float>() : nullptr,
                                        mopt_measure ? 1 : 0, c10::cuda::getCurrentCUDAStream(tables.get_device()).stream());
  TORCH_CHECK(err == 0, "lrkit.fused_adam_multi_: CUDA launch failed with error ", err);
}

}  // namespace

TORCH_LIBRARY_IMPL(lrkit, CUDA, m) { m.impl("fused_adam_multi_", &fused_adam_multi_cuda); }

}  // namespace lrkit
