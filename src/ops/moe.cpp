#include "ops/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "ops/basic.h"
#include "ops/act_quant.h"
#include "ops/matmul.h"
#include "ops/simd/kernels.h"
#include "ops/simd/quant_gemm.h"

namespace mm {

namespace {

// Prefill with the int8 GEMM (QuantMath::Int8, block-format experts): the tokens are quantised once and
// their int8 rows gathered per expert (top-k copies of each token, identical to quantising the gathered
// f32 rows, k times less work) for w1 and w3, g is quantised once for w2, and each phase is one parallel
// region over (expert, product, row group) tasks.
bool moe_int8_prefill(const MoeLayerWeights& w, const std::vector<int64_t>& active, int64_t max_tokens,
                      const MathMode& math) {
  const Weight& w1 = w.w1[size_t(active[0])];
  const Weight& w3 = w.w3[size_t(active[0])];
  const Weight& w2 = w.w2[size_t(active[0])];
  for (const Weight* wt : {&w1, &w3, &w2})
    if (plan_matmul(*wt, max_tokens, math) != MatmulPath::Int8Gemm) return false;
  for (int64_t e : active)
    if (w.w1[size_t(e)].dtype != w1.dtype || w.w3[size_t(e)].dtype != w3.dtype || w.w2[size_t(e)].dtype != w2.dtype ||
        w.w1[size_t(e)].scale || w.w3[size_t(e)].scale || w.w2[size_t(e)].scale)
      return false;
  return true;
}

void moe_experts_int8(ExecContext& ctx, const MoeLayerWeights& w, const std::vector<int64_t>& active, const std::vector<int64_t>& row0,
                      const std::vector<int64_t>& count, const std::vector<int64_t>& src, const float* x,
                      int64_t n_tokens, int64_t hidden, int64_t inter, float* g, float* u, float* y) {
  constexpr int64_t kGroup = 64;
  const int64_t n_act = int64_t(active.size()), total = int64_t(src.size()), nb = hidden / kActBlock;
  const Weight& w1 = w.w1[size_t(active[0])];
  const Weight& w3 = w.w3[size_t(active[0])];
  Arena& scratch = ctx.scratch();
  ArenaScope scope(scratch);
  const ActQ8 tq = quantize_act_q8(scratch, x, hidden, n_tokens, hidden);  // [n_tokens, hidden]
  const ActQ8 xq = alloc_act_q8(scratch, total, hidden);                   // [total, hidden], gathered
  for (int64_t r = 0; r < total; ++r) {  // gathered row r is token src[r]
    const int64_t t = src[size_t(r)];
    std::copy_n(tq.q + t * hidden, hidden, xq.q + r * hidden);
    std::copy_n(tq.d + t * nb, nb, xq.d + r * nb);
    std::copy_n(tq.s + t * nb, nb, xq.s + r * nb);
  }
  const simd::QGemmAct a1 = simd::quant_gemm_prepare(scratch, w1.dtype, xq);
  const simd::QGemmAct a3r = w3.dtype != w1.dtype ? simd::quant_gemm_prepare(scratch, w3.dtype, xq) : a1;
  const int64_t gu_groups = (inter + kGroup - 1) / kGroup, dn_groups = (hidden + kGroup - 1) / kGroup;
  ctx.parallel_for(n_act * 2 * gu_groups, [&](int64_t b, int64_t e_, int ti) {
    for (int64_t task = b; task < e_; ++task) {
      const int64_t a = task / (2 * gu_groups), which = (task / gu_groups) % 2, grp = task % gu_groups;
      const size_t e = size_t(active[size_t(a)]);
      const int64_t r0 = row0[size_t(a)], n = count[size_t(a)];
      const simd::QGemmAct v = (which == 0 ? a1 : a3r).rows(r0, n);
      float* dst = (which == 0 ? g : u) + r0 * inter;
      simd::quant_gemm(ctx.scratch(ti), quant_matrix(which == 0 ? w.w1[e] : w.w3[e]), v, grp * kGroup, std::min(inter, (grp + 1) * kGroup),
                       dst, inter);
    }
  });
  swiglu_inplace(ctx, g, u, total * inter);
  const ActQ8 gq = quantize_act_q8(scratch, g, inter, total, inter);  // [total, inter]
  const simd::QGemmAct a2 = simd::quant_gemm_prepare(scratch, w.w2[size_t(active[0])].dtype, gq);
  ctx.parallel_for(n_act * dn_groups, [&](int64_t b, int64_t e_, int ti) {
    for (int64_t task = b; task < e_; ++task) {
      const int64_t a = task / dn_groups, grp = task % dn_groups;
      const int64_t r0 = row0[size_t(a)], n = count[size_t(a)];
      simd::quant_gemm(ctx.scratch(ti), quant_matrix(w.w2[size_t(active[size_t(a)])]), a2.rows(r0, n), grp * kGroup,
                       std::min(hidden, (grp + 1) * kGroup), y + r0 * hidden, hidden);
    }
  });
}

}  // namespace

void moe_route(ExecContext& ctx, const float* logits, int64_t n_tokens, int64_t n_experts, int64_t top_k, RouterKind kind,
               const float* bias, int32_t* ids, float* weights) {
  std::vector<float> score(static_cast<size_t>(n_experts)), key(static_cast<size_t>(n_experts));
  std::vector<int32_t> order(static_cast<size_t>(n_experts));
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* l = logits + t * n_experts;
    std::copy(l, l + n_experts, score.begin());
    if (kind == RouterKind::Softmax) {
      softmax_inplace(score.data(), n_experts);
      key = score;
    } else {
      sigmoid_inplace(ctx, score.data(), n_experts);
      for (int64_t e = 0; e < n_experts; ++e) key[size_t(e)] = score[size_t(e)] + (bias ? bias[e] : 0.0f);
    }
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + top_k, order.end(), [&](int32_t a, int32_t b) {
      return key[size_t(a)] > key[size_t(b)] || (key[size_t(a)] == key[size_t(b)] && a < b);
    });
    double sum = 0;
    for (int64_t k = 0; k < top_k; ++k) sum += score[size_t(order[size_t(k)])];
    for (int64_t k = 0; k < top_k; ++k) {
      ids[t * top_k + k] = order[size_t(k)];
      weights[t * top_k + k] = float(score[size_t(order[size_t(k)])] / sum);
    }
  }
}

void moe_forward(ExecContext& ctx, const float* x, int64_t n_tokens, int64_t hidden, const MoeLayerWeights& w, int64_t top_k,
                 RouterKind kind, float* out) {
  const int64_t n_experts = w.router.n_out;
  std::vector<float> logits(static_cast<size_t>(n_tokens * n_experts));  // [T, E]
  matmul(ctx, x, n_tokens, w.router, logits.data());
  std::vector<int32_t> ids(static_cast<size_t>(n_tokens * top_k));
  std::vector<float> wts(static_cast<size_t>(n_tokens * top_k));
  moe_route(ctx, logits.data(), n_tokens, n_experts, top_k, kind, w.bias.empty() ? nullptr : w.bias.data(),
            ids.data(), wts.data());

  // Group (token, weight) pairs by expert.
  std::vector<std::vector<std::pair<int64_t, float>>> routed(static_cast<size_t>(n_experts));
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t k = 0; k < top_k; ++k)
      routed[size_t(ids[t * top_k + k])].push_back({t, wts[t * top_k + k]});

  std::fill(out, out + n_tokens * hidden, 0.0f);
  // Active experts and their gathered tokens, laid end to end: expert slot a owns rows
  // [row0[a], row0[a] + n) of xe [Σn, hidden], g / u [Σn, inter] and y [Σn, hidden].
  std::vector<int64_t> active, row0;
  int64_t total = 0;
  for (int64_t e = 0; e < n_experts; ++e)
    if (!routed[size_t(e)].empty()) {
      active.push_back(e);
      row0.push_back(total);
      total += int64_t(routed[size_t(e)].size());
    }
  if (active.empty()) return;
  const int64_t inter = w.w1[size_t(active[0])].n_out;
  const size_t max_tokens = std::max_element(routed.begin(), routed.end(), [](const auto& p, const auto& q) {
                              return p.size() < q.size();
                            })->size();
  const bool int8 = max_tokens > 16 && hidden % kActBlock == 0 && moe_int8_prefill(w, active, int64_t(max_tokens), ctx.math());
  std::vector<float> xe(int8 ? 0 : size_t(total * hidden)), g(size_t(total * inter)), u(size_t(total * inter)),
      y(size_t(total * hidden));
  std::vector<int64_t> src;  // token of each gathered row
  src.reserve(size_t(total));
  for (size_t a = 0; a < active.size(); ++a)
    for (const auto& [t, wt] : routed[size_t(active[a])]) src.push_back(t);
  if (!int8)
    for (int64_t r = 0; r < total; ++r) std::copy_n(x + src[size_t(r)] * hidden, hidden, xe.begin() + r * hidden);
  if (int8) {
    std::vector<int64_t> count;
    for (int64_t e : active) count.push_back(int64_t(routed[size_t(e)].size()));
    moe_experts_int8(ctx, w, active, row0, count, src, x, n_tokens, hidden, inter, g.data(), u.data(), y.data());
  } else if (max_tokens > 16) {
    // Prefill: each expert sees many tokens, so its products are big enough to split across all
    // threads on their own (and the weight rows are reused across the tokens in cache).
    for (size_t a = 0; a < active.size(); ++a) {
      const int64_t e = active[a], n = int64_t(routed[size_t(e)].size());
      matmul(ctx, xe.data() + row0[a] * hidden, n, w.w1[size_t(e)], g.data() + row0[a] * inter);
      matmul(ctx, xe.data() + row0[a] * hidden, n, w.w3[size_t(e)], u.data() + row0[a] * inter);
      swiglu_inplace(ctx, g.data() + row0[a] * inter, u.data() + row0[a] * inter, n * inter);
      matmul(ctx, g.data() + row0[a] * inter, n, w.w2[size_t(e)], y.data() + row0[a] * hidden);
    }
  } else {
    // Decode / few tokens per expert: one parallel region over the row groups of all active experts'
    // gate+up products, then one over all down products, instead of 3 small regions per expert (the
    // per-region wake-up cost would dominate and most experts' rows are too few to share well).
    constexpr int64_t kGroup = 32;
    const int64_t gu_groups = (inter + kGroup - 1) / kGroup, dn_groups = (hidden + kGroup - 1) / kGroup;
    const int64_t n_act = int64_t(active.size());
    // Int8 decode: when the planner gives these experts int8 activations for a decode-sized product,
    // quantise them once for all row groups (matmul_rows uses them where its plan is Int8Gemv).
    const bool q8 = path_uses_act_q8(plan_matmul(w.w1[size_t(active[0])], 1, ctx.math(), false));
    Arena& scratch = ctx.scratch();
    ArenaScope scope(scratch);
    ActQ8 xq;
    if (q8) xq = quantize_act_q8(scratch, xe.data(), hidden, total, hidden);  // [total, hidden]
    ctx.parallel_for(n_act * 2 * gu_groups, [&](int64_t b, int64_t e_, int ti) {
      for (int64_t task = b; task < e_; ++task) {
        const int64_t a = task / (2 * gu_groups), which = (task / gu_groups) % 2, grp = task % gu_groups;
        const int64_t e = active[size_t(a)], n = int64_t(routed[size_t(e)].size());
        const Weight& wt = which == 0 ? w.w1[size_t(e)] : w.w3[size_t(e)];
        float* dst = (which == 0 ? g.data() : u.data()) + row0[size_t(a)] * inter;
        matmul_rows(ctx, ti, xe.data() + row0[size_t(a)] * hidden, n, wt, grp * kGroup, std::min(inter, (grp + 1) * kGroup), dst,
                    q8 ? &xq : nullptr, row0[size_t(a)]);
      }
    });
    swiglu_inplace(ctx, g.data(), u.data(), total * inter);
    if (q8) xq = quantize_act_q8(scratch, g.data(), inter, total, inter);  // [total, inter]
    ctx.parallel_for(n_act * dn_groups, [&](int64_t b, int64_t e_, int ti) {
      for (int64_t task = b; task < e_; ++task) {
        const int64_t a = task / dn_groups, grp = task % dn_groups;
        const int64_t e = active[size_t(a)], n = int64_t(routed[size_t(e)].size());
        matmul_rows(ctx, ti, g.data() + row0[size_t(a)] * inter, n, w.w2[size_t(e)], grp * kGroup,
                    std::min(hidden, (grp + 1) * kGroup), y.data() + row0[size_t(a)] * hidden,
                    q8 ? &xq : nullptr, row0[size_t(a)]);
      }
    });
  }
  for (size_t a = 0; a < active.size(); ++a) {
    const auto& r = routed[size_t(active[a])];
    for (size_t i = 0; i < r.size(); ++i)
      simd::axpy(r[i].second, y.data() + (row0[a] + int64_t(i)) * hidden, out + r[i].first * hidden, hidden);
  }
}

}  // namespace mm
