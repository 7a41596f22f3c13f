// One Adam / AdamW element update, shared by the CPU and CUDA kernels (no ATen, no CUDA headers).
//
// The math and its order follow torch's fused Adam (aten/src/ATen/native/cpu/FusedAdamKernel.cpp),
// so results match torch.optim.Adam(fused=True) to rounding:
//   g  <- -g if maximize;  g <- g / grad_scale if AMP
//   AdamW: p <- p*(1 - lr*wd)        Adam (L2): g <- g + wd*p
//   m  <- lerp(m, g, 1 - b1)         v <- b2 v + (1 - b2) g^2
//   AMSGrad: vmax <- max(vmax, v) (std::max, as torch), and vmax replaces v in the denominator
//   p  <- p - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),   bc_i = 1 - b_i^step, step = t + 1
// Element math is in float (the "opmath" type of float, bf16 and fp16 params); m, v and vmax are float.
// torch's CUDA fused Adam differs in rounding only: it takes the betas, lr, wd and eps as double, so its
// m, v and AdamW decay are computed in double and rounded once. This header keeps float arithmetic so
// that the CPU and CUDA kernels agree bit for bit; tests/optim/helpers.py (CUDA_VS_TORCH_FUSED_RTOL) holds
// the measured difference and the tolerances the GPU test uses against torch's CUDA kernel.
#pragma once

#include <cmath>

#include "lrkit/program.h"

namespace lrkit {

struct AdamStep {  // per-step scalars, computed once from eta(t) and the step count
  float lr;
  float step_size;  // lr / bc1
  float bc2_sqrt;   // sqrt(bc2)
  float beta1, beta2, eps, weight_decay;
  float one_minus_beta1, one_minus_beta2;  // computed in double, then rounded once
  float decay_factor;                      // AdamW: 1 - lr*wd (double, rounded once)
  float grad_scale;  // AMP loss scale the grads carry, or 1
  bool decoupled, maximize, amsgrad;
};

LRKIT_HD AdamStep make_adam_step(double lr, double step, double beta1, double beta2, double eps, double weight_decay,
                                 bool decoupled, bool maximize, double grad_scale, bool amsgrad) {
  AdamStep s;
  const double bc1 = 1.0 - pow(beta1, step);
  const double bc2 = 1.0 - pow(beta2, step);
  s.lr = static_cast<float>(lr);
  s.step_size = static_cast<float>(lr / bc1);
  s.bc2_sqrt = static_cast<float>(sqrt(bc2));
  s.beta1 = static_cast<float>(beta1);
  s.beta2 = static_cast<float>(beta2);
  s.one_minus_beta1 = static_cast<float>(1.0 - beta1);
  s.one_minus_beta2 = static_cast<float>(1.0 - beta2);
  s.decay_factor = static_cast<float>(1.0 - lr * weight_decay);
  s.eps = static_cast<float>(eps);
  s.weight_decay = static_cast<float>(weight_decay);
  s.grad_scale = static_cast<float>(grad_scale);
  s.decoupled = decoupled;
  s.maximize = maximize;
  s.amsgrad = amsgrad;
  return s;
}

enum Decay : int { kNoDecay = 0, kL2 = 1, kDecoupled = 2 };

// kMaximize and kDecay: a value known at compile time, or kFromStep to read it from the AdamStep at run
// time (the GPU kernel: a branch uniform across the launch costs nothing there, and it keeps the number of
// instantiations, and so registers and ptxas time, down).
constexpr int kFromStep = -1;

LRKIT_HD int decay_mode(const AdamStep& s) {
  return s.weight_decay == 0.0f ? kNoDecay : (s.decoupled ? kDecoupled : kL2);
}

// The element update with the per-step branches resolved at compile time, so the CPU loop has none
// and vectorises. `vmax` (AMSGrad's running maximum of v) is read and written only when kAmsgrad; callers
// without one pass v again.
template <bool kScale, int kMaximize, int kDecay, bool kAmsgrad>
LRKIT_HD float adam_element_t(float p, float g, float& m, float& v, float& vmax, const AdamStep& s) {
  const bool maximize = kMaximize == kFromStep ? s.maximize : kMaximize != 0;
  const int decay = kDecay == kFromStep ? decay_mode(s) : kDecay;
  if (kScale) g = g / s.grad_scale;
  if (maximize) g = -g;
  if (decay == kDecoupled) p = p * s.decay_factor;
  if (decay == kL2) g = g + p * s.weight_decay;
  const float w = s.one_minus_beta1;  // m.lerp_(g, w), as at::lerp computes it
  m = fabsf(w) < 0.5f ? m + w * (g - m) : g - (g - m) * (1.0f - w);
  v = s.beta2 * v + s.one_minus_beta2 * g * g;
  if (kAmsgrad) vmax = vmax < v ? v : vmax;  // std::max(vmax, v), as torch's fused Adam
  const float denom = sqrtf(kAmsgrad ? vmax : v) / s.bc2_sqrt + s.eps;
  return p - s.step_size * m / denom;
}

template <bool S, bool M, int D, typename F>
LRKIT_HD void dispatch_amsgrad(const AdamStep& s, F&& f) {
  if (s.amsgrad) {
    f.template operator()<S, M, D, true>();
  } else {
    f.template operator()<S, M, D, false>();
  }
}

// Calls f.template operator()<kScale, kMaximize, kDecay, kAmsgrad>() for the step's flags (24 instantiations).
template <typename F>
LRKIT_HD void dispatch_adam_flags(const AdamStep& s, F&& f) {
  const bool scale = s.grad_scale != 1.0f;
  const int decay = decay_mode(s);
#define LRKIT_ADAM_CASE(S, M, D) \
  if (scale == S && s.maximize == M && decay == D) { dispatch_amsgrad<S, M, D>(s, f); return; }
  LRKIT_ADAM_CASE(false, false, kNoDecay) LRKIT_ADAM_CASE(false, false, kL2) LRKIT_ADAM_CASE(false, false, kDecoupled)
  LRKIT_ADAM_CASE(false, true, kNoDecay) LRKIT_ADAM_CASE(false, true, kL2) LRKIT_ADAM_CASE(false, true, kDecoupled)
  LRKIT_ADAM_CASE(true, false, kNoDecay) LRKIT_ADAM_CASE(true, false, kL2) LRKIT_ADAM_CASE(true, false, kDecoupled)
  LRKIT_ADAM_CASE(true, true, kNoDecay) LRKIT_ADAM_CASE(true, true, kL2) LRKIT_ADAM_CASE(true, true, kDecoupled)
#undef LRKIT_ADAM_CASE
}

}  // namespace lrkit
