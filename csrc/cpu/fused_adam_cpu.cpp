// CPU kernels of lrkit::eval_program and lrkit::fused_adam_ (schemas: csrc/ops.cpp).
//
// fused_adam_ reads each group's hyper-parameters, flags, descriptor addresses and M-opt role from the launch
// tables (on the host here), and the tensors it writes from the op's lists, group after group. A group's step:
// eta(step) of its compiled policy (lrs receives it), the element update, then step += 1 - found_inf.
// A policy bank: K programs (meta [K, 4], code [K, cap, 4], consts [K, cap]), every param has the replica
// axis as dim 0 (size K), and slice k is updated with eta_k(step); lrs receives the K etas.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/types.h>

#include <c10/util/SmallVector.h>

#include <algorithm>
#include <vector>

#include "lrkit/adam.h"
#include "lrkit/program.h"
#include "lrkit/tables.h"

namespace lrkit {
namespace {

// The descriptor lrkit.optim.Program.pack() writes, at its addresses: meta = (n_code, n_consts, out, 0),
// code [code_cap, 4], consts [consts_cap]. Checks that every instruction reads only registers defined before it.
Program program_at(const int32_t* mp, const int32_t* code, int64_t code_cap, const double* consts, int64_t consts_cap) {
  Program p;
  p.code = code;
  p.n_code = mp[0];
  p.consts = consts;
  p.n_consts = mp[1];
  p.out = mp[2];
  TORCH_CHECK(p.n_code >= 0 && p.n_code <= code_cap && p.n_consts >= 0 && p.n_consts <= consts_cap,
              "lrkit: meta says ", p.n_code, " instructions and ", p.n_consts, " constants; the buffers hold ",
              code_cap, " and ", consts_cap);
  const int64_t n_regs = 1 + static_cast<int64_t>(p.n_consts) + p.n_code;
  TORCH_CHECK(n_regs <= kMaxRegisters, "lrkit: the program needs ", n_regs, " registers; the kernels hold ", kMaxRegisters);
  TORCH_CHECK(p.out >= 0 && p.out < n_regs, "lrkit: 'out' must be a register index in [0, ", n_regs, "), got ", p.out);
  const int32_t base = 1 + p.n_consts;
  for (int32_t i = 0; i < p.n_code; ++i) {
    const int32_t* c = p.code + 4 * i;
    TORCH_CHECK(c[0] >= 0 && c[0] < kNumOps, "lrkit: instruction ", i, " has unknown opcode ", c[0]);
    for (int k = 1; k < 4; ++k) {
      TORCH_CHECK(c[k] >= 0 && c[k] < base + i, "lrkit: instruction ", i, " reads register ", c[k],
                  ", which is not defined before it");
    }
  }
  return p;
}

Program program_from(const at::Tensor& meta, const at::Tensor& code, const at::Tensor& consts) {
  TORCH_CHECK(meta.scalar_type() == at::kInt && meta.numel() == 4 && meta.is_contiguous(),
              "lrkit: 'meta' must be a contiguous int32 tensor of 4 numbers (n_code, n_consts, out, 0)");
  TORCH_CHECK(code.scalar_type() == at::kInt && code.dim() == 2 && code.size(1) == 4 && code.is_contiguous(),
              "lrkit: 'code' must be a contiguous int32 tensor of shape [capacity, 4], got ", code.scalar_type(), " ",
              code.sizes());
  TORCH_CHECK(consts.scalar_type() == at::kDouble && consts.dim() == 1 && consts.is_contiguous(),
              "lrkit: 'consts' must be a contiguous 1-D float64 tensor, got ", consts.scalar_type(), " ", consts.sizes());
  return program_at(meta.data_ptr<int32_t>(), code.data_ptr<int32_t>(), code.size(0), consts.data_ptr<double>(),
                    consts.numel());
}

at::Tensor eval_program_cpu(const at::Tensor& meta, const at::Tensor& code, const at::Tensor& consts, const at::Tensor& t) {
  const Program p = program_from(meta, code, consts);
  at::Tensor tt = t.to(at::kDouble).contiguous();
  at::Tensor result = at::empty_like(tt);
  const double* src = tt.data_ptr<double>();
  double* dst = result.data_ptr<double>();
  for (int64_t i = 0; i < tt.numel(); ++i) dst[i] = eval_program(p, src[i]);
  return result;
}

// xp: AMSGrad's running maxima (read only when kAmsgrad; null otherwise)
// With kScale the grads are unscaled in place (g / grad_scale stored back, as torch's fused Adam does), and
// the update uses the float quotient; adam_element_t then has no scaling left to do.
template <typename scalar_t, bool kScale>
inline float load_grad(scalar_t* gp, int64_t i, const AdamStep& s) {
  float g = static_cast<float>(gp[i]);
  if constexpr (kScale) {
    g = g / s.grad_scale;
    gp[i] = static_cast<scalar_t>(g);
  }
  return g;
}

template <typename scalar_t, bool kScale, bool kMaximize, int kDecay, bool kAmsgrad>
void adam_range(scalar_t* __restrict pp, scalar_t* __restrict gp, float* __restrict mp, float* __restrict vp,
                float* __restrict xp, int64_t begin, int64_t end, const AdamStep s) {
#pragma GCC ivdep
  for (int64_t i = begin; i < end; ++i) {
    float& vmax = kAmsgrad ? xp[i] : vp[i];
    pp[i] = static_cast<scalar_t>(adam_element_t<false, kMaximize, kDecay, kAmsgrad>(
        static_cast<float>(pp[i]), load_grad<scalar_t, kScale>(gp, i, s), mp[i], vp[i], vmax, s));
  }
}

// Streaming M-opt (004 Formula 7) inside the step, no extra pass over the parameters:
//   mode 1 ("record"): prev[i] <- p_new - p_old (the update of this step, Delta_t)
//   mode 2 ("measure"): sums += ( |prev[i]|, |prev[i] - (p_new - p_old)| )  (||Delta_t||_1, ||Delta_t - Delta_{t+1}||_1)
// Sums are per piece (below), added in order: deterministic whatever the threads.
constexpr int64_t kPieceSize = 1 << 15;

template <typename scalar_t, bool kScale, bool kMaximize, int kDecay, bool kAmsgrad>
void adam_range_mopt(scalar_t* __restrict pp, scalar_t* __restrict gp, float* __restrict mp, float* __restrict vp,
                     float* __restrict xp, float* __restrict prev, int64_t begin, int64_t end, const AdamStep s,
                     int64_t mode, double* sums) {
  double a = 0.0, b = 0.0;
  for (int64_t i = begin; i < end; ++i) {
    const float old = static_cast<float>(pp[i]);
    float& vmax = kAmsgrad ? xp[i] : vp[i];
    const scalar_t stored = static_cast<scalar_t>(
        adam_element_t<false, kMaximize, kDecay, kAmsgrad>(old, load_grad<scalar_t, kScale>(gp, i, s), mp[i], vp[i],
                                                           vmax, s));
    pp[i] = stored;
    const double delta = static_cast<double>(static_cast<float>(stored)) - static_cast<double>(old);
    if (mode == kMoptRecord) {
      prev[i] = static_cast<float>(delta);
    } else {
      a += std::fabs(static_cast<double>(prev[i]));
      b += std::fabs(static_cast<double>(prev[i]) - delta);
    }
  }
  sums[0] = a;
  sums[1] = b;
}

// One piece of work: elements [begin, end) of tensor `tensor`, at most kPieceSize long. The step is
// cut into these pieces over all tensors of the group and the pieces are shared among the threads,
// so many small tensors are updated in parallel too; M-opt sums add the pieces' partial sums in
// order, so they do not depend on the number of threads.
struct Piece {
  int64_t tensor, begin, end;
  int64_t replica;  // whose AdamStep applies: 0, or the slice's replica k of a policy bank
};

template <typename scalar_t>
void adam_piece(at::Tensor& param, const at::Tensor& grad, at::Tensor& m, at::Tensor& v, float* xp, const AdamStep& s,
                int64_t begin, int64_t end, int64_t mode, float* prev, double* sums) {
  scalar_t* pp = param.data_ptr<scalar_t>();
  scalar_t* gp = grad.mutable_data_ptr<scalar_t>();  // written where the grads are unscaled in place
  float* mp = m.data_ptr<float>();
  float* vp = v.data_ptr<float>();
  dispatch_adam_flags(s, [&]<bool S, bool M, int D, bool A>() {
    if (mode == kMoptOff) {
      adam_range<scalar_t, S, M, D, A>(pp, gp, mp, vp, xp, begin, end, s);
    } else {
      adam_range_mopt<scalar_t, S, M, D, A>(pp, gp, mp, vp, xp, prev, begin, end, s, mode, sums);
    }
  });
}

// A one-element CPU tensor's value, read in place where it is float32 or float64 (no dispatch), else by item().
double host_scalar(const at::Tensor& x, const char* what) {
  TORCH_CHECK(x.numel() == 1, "lrkit.fused_adam_: '", what, "' must hold one number, got ", x.numel());
  if (x.device().is_cpu() && x.scalar_type() == at::kFloat) return *x.const_data_ptr<float>();
  if (x.device().is_cpu() && x.scalar_type() == at::kDouble) return *x.const_data_ptr<double>();
  return x.item<double>();
}

// One group's step over its slice of the op's lists (its hyper-parameters, flags, programs and M-opt role are
// its GroupEntry's): eta_k(t) of each of its n_programs programs into lr_out, then, unless `skip`, the element
// update of every param. `sums_out`: the two float64 sums of a measure step (null for other roles).
void adam_group(at::TensorList params, at::TensorList grads, at::TensorList exp_avgs, at::TensorList exp_avg_sqs,
                at::TensorList max_exp_avg_sqs, at::TensorList prev_deltas, const GroupEntry& e, double t,
                double* lr_out, double grad_scale, bool skip, double* sums_out) {
  const size_t n = params.size();
  const bool amsgrad = (e.flags & kFlagAmsgrad) != 0;
  const int64_t mopt_mode = e.mopt_mode;
  const int64_t replicas = e.n_programs;
  const bool bank = replicas > 1;  // a bank of one policy is updated as one program
  TORCH_CHECK(!bank || mopt_mode == kMoptOff, "lrkit.fused_adam_: M-opt is not available with a policy bank");
  // a policy bank's descriptors lie one after another (tables.h): program k at k times one descriptor's size
  const auto* meta = reinterpret_cast<const int32_t*>(e.meta);
  const auto* code = reinterpret_cast<const int32_t*>(e.code);
  const auto* consts = reinterpret_cast<const double*>(e.consts);
  c10::SmallVector<double, 4> lrs(replicas);
  for (int64_t k = 0; k < replicas; ++k) {
    const Program prog = program_at(meta + 4 * k, code + 4 * kMaxRegisters * k, kMaxRegisters,
                                    consts + kMaxRegisters * k, kMaxRegisters);
    lrs[k] = eval_program(prog, t);
    lr_out[k] = lrs[k];
  }
  if (skip) return;  // AMP: eta is written, nothing else changes
  c10::SmallVector<AdamStep, 4> steps;
  for (const double lr : lrs) {
    steps.push_back(make_adam_step(lr, t + 1.0, e.beta1, e.beta2, e.eps, e.weight_decay, (e.flags & kFlagDecoupled) != 0,
                                   (e.flags & kFlagMaximize) != 0, grad_scale, amsgrad));
  }
  c10::SmallVector<Piece, 8> pieces;
  c10::SmallVector<float*, 8> prevs(n, nullptr), maxes(n, nullptr);
  for (size_t i = 0; i < n; ++i) {
    const at::Tensor& param = params[i];
    const at::Tensor& grad = grads[i];
    const at::Tensor& m = exp_avgs[i];
    const at::Tensor& v = exp_avg_sqs[i];
    TORCH_CHECK(param.is_contiguous() && grad.is_contiguous() && m.is_contiguous() && v.is_contiguous(),
                "lrkit.fused_adam_: tensor ", i, " (param, grad or state) is not contiguous");
    TORCH_CHECK(grad.scalar_type() == param.scalar_type() && grad.numel() == param.numel(),
                "lrkit.fused_adam_: grad ", i, " must match its param in dtype and size");
    TORCH_CHECK(m.scalar_type() == at::kFloat && v.scalar_type() == at::kFloat && m.numel() == param.numel() &&
                    v.numel() == param.numel(),
                "lrkit.fused_adam_: exp_avg and exp_avg_sq ", i, " must be float32 and the size of the param");
    TORCH_CHECK(param.scalar_type() == at::kFloat || param.scalar_type() == at::kDouble ||
                    param.scalar_type() == at::kBFloat16 || param.scalar_type() == at::kHalf,
                "lrkit.fused_adam_: param ", i, " has dtype ", param.scalar_type(),
                "; allowed: float32, float64, bfloat16, float16");
    if (amsgrad) {
      const at::Tensor& x = max_exp_avg_sqs[i];
      TORCH_CHECK(x.scalar_type() == at::kFloat && x.numel() == param.numel() && x.is_contiguous(),
                  "lrkit.fused_adam_: max_exp_avg_sq ", i, " must be a contiguous float32 tensor the size of its param");
      maxes[i] = x.data_ptr<float>();
    }
    if (mopt_mode != kMoptOff) {
      const at::Tensor& pd = prev_deltas[i];
      TORCH_CHECK(pd.scalar_type() == at::kFloat && pd.numel() == param.numel() && pd.is_contiguous(),
                  "lrkit.fused_adam_: prev_delta ", i, " must be a contiguous float32 tensor the size of its param");
      prevs[i] = pd.data_ptr<float>();
    }
    TORCH_CHECK(!bank || (param.dim() >= 1 && param.size(0) == replicas),
                "lrkit.fused_adam_: param ", i, " of a policy bank of ", replicas, " policies must have the replica "
                "axis as dim 0 (size ", replicas, "), got shape ", param.sizes());
    const int64_t slice = param.numel() / replicas;  // replica k's elements: [k * slice, (k + 1) * slice)
    for (int64_t k = 0; k < replicas; ++k) {
      for (int64_t b = k * slice; b < (k + 1) * slice; b += kPieceSize) {
        pieces.push_back({static_cast<int64_t>(i), b, std::min((k + 1) * slice, b + kPieceSize), k});
      }
    }
  }
  const int64_t n_pieces = static_cast<int64_t>(pieces.size());
  // one pair of partial sums per piece (a record step writes them too, unread)
  std::vector<double> partial(mopt_mode == kMoptOff ? 0 : 2 * n_pieces, 0.0);
  at::parallel_for(0, n_pieces, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) {
      const Piece& w = pieces[k];
      at::Tensor param = params[w.tensor];
      at::Tensor m = exp_avgs[w.tensor];
      at::Tensor v = exp_avg_sqs[w.tensor];
      double* sums = partial.empty() ? nullptr : partial.data() + 2 * k;
      AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, param.scalar_type(), "lrkit_fused_adam_cpu", [&] {
        adam_piece<scalar_t>(param, grads[w.tensor], m, v, maxes[w.tensor], steps[w.replica], w.begin, w.end, mopt_mode,
                             prevs[w.tensor], sums);
      });
    }
  });
  if (mopt_mode == kMoptMeasure) {
    double sums[2] = {0.0, 0.0};
    for (int64_t k = 0; k < n_pieces; ++k) {  // in piece order: the same sums whatever the threads
      sums[0] += partial[2 * k];
      sums[1] += partial[2 * k + 1];
    }
    sums_out[0] = sums[0];
    sums_out[1] = sums[1];
  }
}

// The step of every group of the tables, one after another: each group's slice of the lists goes to
// adam_group, then its step counter advances by 1 - found_inf (as the CUDA schedule kernel does).
// Of the tables this reads the group rows and each tensor row's group and replica (one pass over the rows);
// the tensors themselves come from the lists, so their addresses in the tables are not read.
void fused_adam_cpu(at::TensorList params, at::TensorList grads, at::TensorList exp_avgs, at::TensorList exp_avg_sqs,
                    at::TensorList max_exp_avg_sqs, at::TensorList prev_deltas, at::TensorList steps,
                    at::TensorList lrs, at::TensorList mopt_sums, const at::Tensor& tables, const at::Tensor& scratch,
                    int64_t n_tensors, int64_t n_chunks, int64_t chunk_size, int64_t n_programs,
                    const std::optional<at::Tensor>& grad_scale, const std::optional<at::Tensor>& found_inf) {
  (void)scratch;  // the CUDA kernels' workspace; the CPU kernel keeps its partial sums on the host
  (void)chunk_size;
  const int64_t n_groups = static_cast<int64_t>(steps.size());
  TORCH_CHECK(static_cast<int64_t>(lrs.size()) == n_groups, "lrkit.fused_adam_: one step counter and one lrs per "
              "group, got ", n_groups, " and ", lrs.size());
  TORCH_CHECK(n_tensors >= 0 && n_chunks >= 0, "lrkit.fused_adam_: n_tensors and n_chunks must be >= 0, got ",
              n_tensors, " and ", n_chunks);
  const int64_t group_bytes = n_groups * int64_t(sizeof(GroupEntry));
  const int64_t bytes = n_tensors * int64_t(sizeof(TensorEntry)) + n_chunks * int64_t(sizeof(ChunkEntry)) + group_bytes;
  TORCH_CHECK(tables.device().is_cpu() && tables.scalar_type() == at::kByte && tables.is_contiguous() &&
                  tables.numel() == bytes,
              "lrkit.fused_adam_: 'tables' must be a contiguous uint8 CPU tensor of ", bytes, " bytes, got ",
              tables.numel());
  TORCH_CHECK(grads.size() == params.size() && exp_avgs.size() == params.size() && exp_avg_sqs.size() == params.size(),
              "lrkit.fused_adam_: params, grads, exp_avgs and exp_avg_sqs must have the same length");
  const uint8_t* base = tables.const_data_ptr<uint8_t>();
  const auto* rows = reinterpret_cast<const TensorEntry*>(base);
  const auto* groups = reinterpret_cast<const GroupEntry*>(base + bytes - group_bytes);
  c10::SmallVector<int64_t, 8> n_params(n_groups, 0);  // a group's params: its rows of replica 0, in order
  for (int64_t r = 0; r < n_tensors; ++r) {
    TORCH_CHECK(rows[r].group >= 0 && rows[r].group < n_groups, "lrkit.fused_adam_: tensor row ", r, " names group ",
                rows[r].group, " of ", n_groups);
    if (rows[r].replica == 0) ++n_params[rows[r].group];
  }
  int64_t programs = 0;
  for (int64_t g = 0; g < n_groups; ++g) {
    TORCH_CHECK(groups[g].n_programs >= 1 && groups[g].meta != 0 && groups[g].code != 0 && groups[g].consts != 0,
                "lrkit.fused_adam_: group ", g, " of the tables has no programs or a null descriptor address");
    programs += groups[g].n_programs;
  }
  TORCH_CHECK(programs == n_programs, "lrkit.fused_adam_: the groups hold ", programs, " programs, n_programs says ",
              n_programs);
  // AMP's scalars, read once for all groups (found_inf and grad_scale absent: no read at all)
  const bool skip = found_inf.has_value() && host_scalar(*found_inf, "found_inf") != 0.0;
  const double scale = grad_scale.has_value() && !skip ? host_scalar(*grad_scale, "grad_scale") : 1.0;
  size_t param = 0, vmax = 0, prev = 0, sums = 0;  // how much of each list the groups so far took
  const auto take = [](at::TensorList list, size_t& at, int64_t n, const char* what) {
    TORCH_CHECK(at + n <= list.size(), "lrkit.fused_adam_: the tables need more ", what, " than the list holds (",
                list.size(), ")");
    const at::TensorList out = list.slice(at, n);
    at += n;
    return out;
  };
  for (int64_t g = 0; g < n_groups; ++g) {
    const GroupEntry& e = groups[g];
    const int64_t n = n_params[g];
    const int64_t mode = e.mopt_mode;
    TORCH_CHECK(mode == kMoptOff || mode == kMoptRecord || mode == kMoptMeasure, "lrkit.fused_adam_: group ", g,
                " has M-opt role ", mode, "; 0 (none), 1 (record) or 2 (measure)");
    const at::Tensor& step = steps[g];
    TORCH_CHECK(step.device().is_cpu() && step.scalar_type() == at::kDouble && step.is_contiguous() &&
                    step.numel() == 1,
                "lrkit.fused_adam_: step counter ", g, " must be a one-element float64 CPU tensor");
    const at::Tensor& lr = lrs[g];
    TORCH_CHECK(lr.device().is_cpu() && lr.scalar_type() == at::kDouble && lr.is_contiguous() &&
                    lr.numel() == e.n_programs,
                "lrkit.fused_adam_: lrs ", g, " must be a contiguous float64 CPU tensor of one number per program (",
                e.n_programs, "), got ", lr.numel());
    double* sums_out = nullptr;
    if (mode == kMoptMeasure) {
      const at::Tensor& out = take(mopt_sums, sums, 1, "mopt_sums")[0];
      TORCH_CHECK(out.device().is_cpu() && out.scalar_type() == at::kDouble && out.numel() == 2 && out.is_contiguous(),
                  "lrkit.fused_adam_: mopt_sums of group ", g, " must be a contiguous float64 CPU tensor of 2");
      sums_out = out.data_ptr<double>();
    }
    const size_t first = param;
    take(params, param, n, "params");
    const bool amsgrad = (e.flags & kFlagAmsgrad) != 0;
    double* t = step.data_ptr<double>();
    adam_group(params.slice(first, n), grads.slice(first, n), exp_avgs.slice(first, n), exp_avg_sqs.slice(first, n),
               amsgrad ? take(max_exp_avg_sqs, vmax, n, "max_exp_avg_sqs") : at::TensorList(),
               mode != kMoptOff ? take(prev_deltas, prev, n, "prev_deltas") : at::TensorList(), e, *t,
               lr.data_ptr<double>(), scale, skip, sums_out);
    if (!skip) *t += 1.0;
  }
  TORCH_CHECK(param == params.size() && vmax == max_exp_avg_sqs.size() && prev == prev_deltas.size() &&
                  sums == mopt_sums.size(),
              "lrkit.fused_adam_: the tensor lists hold other tensors than the tables' groups (params ", params.size(),
              " for ", param, ", max_exp_avg_sqs ", max_exp_avg_sqs.size(), " for ", vmax, ", prev_deltas ",
              prev_deltas.size(), " for ", prev, ", mopt_sums ", mopt_sums.size(), " for ", sums, ")");
}

}  // namespace

TORCH_LIBRARY_IMPL(lrkit, CPU, m) {
  m.impl("eval_program", &eval_program_cpu);
  m.impl("fused_adam_", &fused_adam_cpu);
}

}  // namespace lrkit
