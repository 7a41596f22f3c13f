// CPU kernel of lrkit::mopt_l1 (schema: csrc/ops.cpp): the M-opt L1 sums (004 §4.2, Formula 7) in one pass
// over three parameter snapshots,
//   out = float64 ( sum |theta1 - theta0|, sum |2 theta1 - theta0 - theta2| ),
// eta* = eta_{t+1} * out[0] / out[1] (lrkit.optim.mopt). Deterministic: every tensor is cut into chunks of
// chunk_size elements (the chunks of the CUDA launch tables), each chunk summed in float64 in order, and the
// chunk sums added in order, so the result does not depend on the number of threads. The tables themselves
// are the CUDA kernels' view of the chunks; here only their chunk count is checked.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/types.h>

#include <cmath>
#include <vector>

namespace lrkit {
namespace {

template <typename scalar_t>
void chunk_sums(const scalar_t* a, const scalar_t* b, const scalar_t* c, int64_t begin, int64_t end, double* out) {
  double s0 = 0.0, s1 = 0.0;
  for (int64_t i = begin; i < end; ++i) {
    const double x0 = static_cast<double>(a[i]), x1 = static_cast<double>(b[i]), x2 = static_cast<double>(c[i]);
    s0 += std::fabs(x1 - x0);
    s1 += std::fabs(2.0 * x1 - x0 - x2);
  }
  out[0] = s0;
  out[1] = s1;
}

at::Tensor mopt_l1_cpu(at::TensorList theta0, at::TensorList theta1, at::TensorList theta2,
                       const std::optional<at::Tensor>& tables, int64_t n_chunks, int64_t chunk_size) {
  TORCH_CHECK(chunk_size > 0, "lrkit.mopt_l1: chunk_size must be positive, got ", chunk_size);
  const int64_t kChunk = chunk_size;
  int64_t walked = 0;  // chunks of all tensors, as the tables count them
  TORCH_CHECK(theta0.size() == theta1.size() && theta1.size() == theta2.size(),
              "lrkit.mopt_l1: the three snapshots must hold the same number of tensors, got ", theta0.size(), ", ",
              theta1.size(), ", ", theta2.size());
  double total0 = 0.0, total1 = 0.0;
  for (size_t k = 0; k < theta0.size(); ++k) {
    const at::Tensor a = theta0[k].contiguous(), b = theta1[k].contiguous(), c = theta2[k].contiguous();
    TORCH_CHECK(a.sizes() == b.sizes() && b.sizes() == c.sizes() && a.scalar_type() == b.scalar_type() &&
                    b.scalar_type() == c.scalar_type(),
                "lrkit.mopt_l1: tensor ", k, " differs in shape or dtype between the snapshots");
    const int64_t n = a.numel();
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    walked += chunks;
    std::vector<double> partial(2 * chunks, 0.0);
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, a.scalar_type(), "lrkit_mopt_l1_cpu", [&] {
      const scalar_t* pa = a.data_ptr<scalar_t>();
      const scalar_t* pb = b.data_ptr<scalar_t>();
      const scalar_t* pc = c.data_ptr<scalar_t>();
      at::parallel_for(0, chunks, 1, [&](int64_t lo, int64_t hi) {
        for (int64_t j = lo; j < hi; ++j) {
          chunk_sums(pa, pb, pc, j * kChunk, std::min(n, (j + 1) * kChunk), partial.data() + 2 * j);
        }
      });
    });
    for (int64_t j = 0; j < chunks; ++j) {
      total0 += partial[2 * j];
      total1 += partial[2 * j + 1];
    }
  }
  TORCH_CHECK(!tables.has_value() || walked == n_chunks, "lrkit.mopt_l1: the tables hold ", n_chunks,
              " chunks; the snapshots have ", walked, " of ", chunk_size, " elements");
  at::Tensor out = at::empty({2}, at::TensorOptions().dtype(at::kDouble));
  out[0] = total0;
  out[1] = total1;
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(lrkit, CPU, m) { m.impl("mopt_l1", &mopt_l1_cpu); }

}  // namespace lrkit
