// CUDA kernel of lrkit::mopt_l1 (schema: csrc/ops.cpp; built only where torch has CUDA). The launch tables
// are packed by lrkit/optim/tables.py (pack_mopt) and required here; this file checks them and calls the
// kernels of mopt_kernel.cu on the current stream. The result stays on the device (no host sync).
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>
#include <torch/types.h>

#include "lrkit/tables.h"

extern "C" int lrkit_mopt_l1_cuda(const void* tensors, const void* chunks, int64_t n_chunks, int64_t chunk_size,
                                  double* partials, double* out, void* stream);

namespace lrkit {
namespace {

at::Tensor mopt_l1_cuda(at::TensorList theta0, at::TensorList theta1, at::TensorList theta2,
                        const std::optional<at::Tensor>& launch_tables, int64_t n_chunks, int64_t chunk_size) {
  TORCH_CHECK(launch_tables.has_value(), "lrkit.mopt_l1: on CUDA the launch tables (lrkit.optim.tables.pack_mopt) "
              "are required");
  const at::Tensor& tables = *launch_tables;
  const int64_t n_tensors = static_cast<int64_t>(theta0.size());
  TORCH_CHECK(theta1.size() == theta0.size() && theta2.size() == theta0.size(),
              "lrkit.mopt_l1: the three snapshots must hold the same number of tensors, got ", theta0.size(), ", ",
              theta1.size(), ", ", theta2.size());
  const int64_t bytes = n_tensors * int64_t(sizeof(MoptEntry)) + n_chunks * int64_t(sizeof(ChunkEntry));
  TORCH_CHECK(tables.is_cuda() && tables.scalar_type() == at::kByte && tables.is_contiguous() && tables.numel() == bytes,
              "lrkit.mopt_l1: 'tables' must be a contiguous uint8 CUDA tensor of ", bytes, " bytes, got ",
              tables.numel());
  TORCH_CHECK(chunk_size > 0, "lrkit.mopt_l1: chunk_size must be positive");
  // The kernels read the snapshots through the tables' raw addresses in theta0's dtype and size.
  for (int64_t k = 0; k < n_tensors; ++k) {
    const at::ScalarType dt = theta0[k].scalar_type();
    TORCH_CHECK(dt == at::kFloat || dt == at::kBFloat16 || dt == at::kHalf || dt == at::kDouble,
                "lrkit.mopt_l1: tensor ", k, " must be float32, bfloat16, float16 or float64, got ", dt);
    for (const at::Tensor* t : {&theta0[k], &theta1[k], &theta2[k]}) {
      TORCH_CHECK(t->is_cuda() && t->device() == tables.device() && t->is_contiguous() && t->scalar_type() == dt &&
                      t->numel() == theta0[k].numel(),
                  "lrkit.mopt_l1: tensor ", k, " of each snapshot must be contiguous, on the tables' device (",
                  tables.device(), ") and of one dtype and size across the three snapshots");
    }
  }
  const c10::cuda::CUDAGuard guard(tables.device());  // partials, out and the launch on the tables' device
  const auto f64 = at::TensorOptions().dtype(at::kDouble).device(tables.device());
  at::Tensor partials = at::empty({2 * std::max<int64_t>(n_chunks, 1)}, f64);
  at::Tensor out = at::empty({2}, f64);
  const uint8_t* base = tables.data_ptr<uint8_t>();
  const int err = lrkit_mopt_l1_cuda(base, base + n_tensors * sizeof(MoptEntry), n_chunks, chunk_size,
                                     partials.data_ptr<double>(), out.data_ptr<double>(),
                                     c10::cuda::getCurrentCUDAStream(tables.get_device()).stream());
  TORCH_CHECK(err == 0, "lrkit.mopt_l1: CUDA launch failed with error ", err);
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(lrkit, CUDA, m) { m.impl("mopt_l1", &mopt_l1_cuda); }

}  // namespace lrkit
