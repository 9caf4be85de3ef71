// minimax: the command-line frontend. Each subcommand lives in its own tools/cmd_*.cpp file and
// registers itself in the table below.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "core/error.h"
#include "minimax/runtime.h"
#include "tools/commands.h"

int main(int argc, char** argv) {
  mm::tune_allocator_for_inference();
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::printf("usage: minimax <command> [options]\n\ncommands:\n");
    for (const auto& c : mm::cli::commands()) std::printf("  %-12s %s\n", c.name, c.help);
    return argc < 2 ? 1 : 0;
  }
  for (const auto& c : mm::cli::commands()) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    for (int i = 2; i < argc; ++i)
      if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
        std::printf("minimax %s: %s\n", c.name, c.help);
        return 0;
      }
    try {
      return c.run(argc - 2, argv + 2);
    } catch (const mm::Error& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "error: unknown command '%s' (run 'minimax --help')\n", argv[1]);
  return 2;
}
