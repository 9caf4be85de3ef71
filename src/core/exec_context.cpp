#include "core/exec_context.h"

#include "core/error.h"

namespace mm {

Workspace::Workspace(int n_threads) {
  for (int i = 0; i < n_threads; ++i) arenas_.push_back(std::make_unique<Arena>());
}

Arena& Workspace::thread(int index) {
  MM_CHECK(index >= 0 && index < int(arenas_.size()), "workspace thread index out of range");
  return *arenas_[size_t(index)];
}

ExecContext::ExecContext(int n_threads, MathMode math)
    : ExecContext(std::make_shared<ThreadPool>(n_threads < 1 ? default_thread_count() : n_threads), math) {}

ExecContext::ExecContext(std::shared_ptr<ThreadPool> pool, MathMode math)
    : pool_(std::move(pool)), math_(math), ws_(pool_->n_threads()), comm_(std::make_shared<Communicator>()) {}

}  // namespace mm
