// `minimax chat`: an interactive (or one-shot with --prompt) conversation in the model's chat format,
// streaming the reply as it is generated; reasoning is shown apart from the answer.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "core/error.h"
#include "minimax/generation.h"
#include "minimax/model.h"
#include "minimax/runtime.h"
#include "minimax/text.h"
#include "tools/commands.h"

namespace mm::cli {

namespace {

int run_chat(int argc, char** argv) {
  Args args(argc, argv, {"exact"});
  args.check_known({"model", "tokenizer", "prompt", "system", "n", "temp", "seed", "top-k", "top-p", "min-p",
                    "repeat-penalty", "threads", "ctx-size", "exact"});
  ExecContext ctx(threads_from(args), math_mode_from(args));
  const std::string model_path = args.required("model");
  auto model = load_model(model_path);
  auto tok = load_tokenizer_for(model_path, args.str("tokenizer"));
  const auto& cfg = model->config();
  const ChatFormat fmt = chat_format_of(cfg);
  const auto stop_ids = reply_stop_ids(cfg, *tok);
  const SamplingParams sampling = sampling_from(args);
  Sampler sampler(sampling);  // one random stream for the whole conversation
  const int64_t max_new = args.i64("n", 512);
  const bool tty = isatty(STDOUT_FILENO);

  std::vector<ChatMessage> msgs;
  if (args.has("system")) msgs.push_back({.role = "system", .content = args.str("system")});
  auto seq = model->new_sequence(args.i64("ctx-size", 0));
  std::vector<int32_t> seq_ids;  // tokens the sequence holds

  auto turn = [&](const std::string& user) {
    msgs.push_back({.role = "user", .content = user});
    const ChatPrompt prompt = chat_render_prompt(fmt, msgs, nullptr, true);
    std::vector<int32_t> ids = tok->encode(prompt.text, prompt.plain);
    // Reuse the sequence when it holds a prefix of the new prompt; otherwise start over (a lightning
    // state cannot be rewound).
    size_t common = 0;
    while (common < seq_ids.size() && common < ids.size() && seq_ids[common] == ids[common]) ++common;
    if (common < seq_ids.size() || common == ids.size()) {
      seq->reset();
      seq_ids.clear();
      common = 0;
    }
    std::vector<int32_t> fresh(ids.begin() + long(common), ids.end());
    ChatOutputParser parser(fmt, nullptr, chat_starts_in_reasoning(fmt));
    std::string content, reasoning;
    bool in_reasoning = false;
    auto show = [&](const std::vector<ChatEvent>& evs) {
      for (const auto& e : evs) {
        if (e.kind == ChatEvent::Reasoning) {
          if (!in_reasoning) std::fputs(tty ? "\033[2m[thinking] " : "[thinking] ", stdout);
          in_reasoning = true;
          reasoning += e.text;
          std::fputs(e.text.c_str(), stdout);
        } else {
          if (in_reasoning) std::fputs(tty ? "\033[0m\n" : "\n", stdout);
          in_reasoning = false;
          if (e.kind == ChatEvent::Content) content += e.text, std::fputs(e.text.c_str(), stdout);
          else std::printf("[tool call] %s %s\n", e.call.name.c_str(), e.call.arguments.c_str());
        }
      }
      std::fflush(stdout);
    };
    GenRequest req;
    req.prompt = std::move(fresh);
    req.sampling = sampling;
    req.max_tokens = max_new;
    req.stop_ids = stop_ids;
    auto out = run_generation(ctx, *model, *seq, std::move(req), tok.get(), /*skip_special=*/true,
                              [&](const GenEvent& ev) { show(parser.feed(ev.text)); }, &sampler);
    show(parser.finish());
    if (in_reasoning && tty) std::fputs("\033[0m", stdout);
    std::fputs("\n", stdout);
    seq_ids.insert(seq_ids.end(), ids.begin() + long(seq_ids.size()), ids.end());
    if (!out.empty()) seq_ids.insert(seq_ids.end(), out.begin(), out.end() - 1);  // the last one was not fed
    msgs.push_back({.role = "assistant", .content = content, .reasoning_content = reasoning});
  };

  if (args.has("prompt")) {
    turn(args.str("prompt"));
    return 0;
  }
  std::string line;
  while (true) {
    std::fputs("> ", stdout);
    std::fflush(stdout);
    if (!std::getline(std::cin, line)) break;
    if (line == "/exit" || line == "/quit") break;
    if (line.empty()) continue;
    try {
      turn(line);
    } catch (const Error& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      msgs.pop_back();
      seq->reset();
      seq_ids.clear();
    }
  }
  return 0;
}

const Register reg{"chat", "chat with a model: --model DIR [--prompt TEXT] [--system TEXT] [-n N] [--temp T] [--exact]", run_chat};

}  // namespace

}  // namespace mm::cli
