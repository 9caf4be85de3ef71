// Two kinds of errors (docs/design.md habit 7):
//  * MM_CHECK: an engine invariant. Failing it is a bug; it prints file:line and aborts.
//  * mm::Error: a user error (bad file, config, request). Thrown, caught at the CLI / HTTP edge and
//    reported with a message that says what is wrong and what to do.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace mm {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] inline void check_failed(const char* file, int line, const char* cond, const std::string& msg) {
  std::fprintf(stderr, "%s:%d: MM_CHECK(%s) failed%s%s\n", file, line, cond, msg.empty() ? "" : ": ",
               msg.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace mm

#define MM_CHECK(cond, ...)                                                                  \
  do {                                                                                       \
    if (!(cond)) ::mm::check_failed(__FILE__, __LINE__, #cond, ::std::string{__VA_ARGS__}); \
  } while (0)
