// Reading passphrases: environment variable or /dev/tty with echo off (termios), restored on
// every path out.
#include "passphrase.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace fieldsync::cli {
namespace {

class Tty {
 public:
  Tty() : fd_(::open("/dev/tty", O_RDWR | O_CLOEXEC)) {}
  ~Tty() {
    if (echo_off_) ::tcsetattr(fd_, TCSAFLUSH, &saved_);
    if (fd_ >= 0) ::close(fd_);
  }
  Tty(const Tty&) = delete;
  Tty& operator=(const Tty&) = delete;

  bool ok() const { return fd_ >= 0; }

  // Prints `prompt`, reads one line with echo off. False on end of input or an I/O error.
  bool ask(const std::string& prompt, std::string& out) {
    write(prompt);
    if (::tcgetattr(fd_, &saved_) == 0) {
      termios quiet = saved_;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      echo_off_ = ::tcsetattr(fd_, TCSAFLUSH, &quiet) == 0;
    }
    bool got_line = false;
    char c = 0;
    while (::read(fd_, &c, 1) == 1) {
      if (c == '\n' || c == '\r') {
        got_line = true;
        break;
      }
      out.push_back(c);
    }
    c = 0;
    if (echo_off_) ::tcsetattr(fd_, TCSAFLUSH, &saved_);
    echo_off_ = false;
    write("\n");
    return got_line || !out.empty();
  }

 private:
  void write(const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
      ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
      if (n <= 0) return;
      done += static_cast<std::size_t>(n);
    }
  }

  int fd_;
  termios saved_{};
  bool echo_off_ = false;
};

Result<crypto::SecureBuffer> from_env(const std::string& env_var) {
  const char* value = std::getenv(env_var.c_str());
  if (!value || !*value)
    return Status(Code::invalid_argument,
                  "--passphrase-env names " + env_var + ", which is not set or empty");
  std::string text = value;
  return crypto::SecureBuffer::take(text);
}

Status no_terminal() {
  return {Code::invalid_argument,
          "no terminal to ask for the passphrase: run on a terminal or use "
          "--passphrase-env VAR"};
}

bool equal(const crypto::SecureBuffer& a, const crypto::SecureBuffer& b) {
  return a.size() == b.size() && std::equal(a.data(), a.data() + a.size(), b.data());
}

Status check_length(const crypto::SecureBuffer& p) {
  if (p.size() >= kMinPassphraseLength) return Status::ok();
  return {Code::invalid_argument,
          "a passphrase needs at least " + std::to_string(kMinPassphraseLength) + " characters"};
}

}  // namespace

Result<crypto::SecureBuffer> read_passphrase(const std::string& env_var,
                                             const std::string& prompt) {
  if (!env_var.empty()) return from_env(env_var);
  Tty tty;
  if (!tty.ok()) return no_terminal();
  std::string text;
  if (!tty.ask(prompt, text)) return no_terminal();
  return crypto::SecureBuffer::take(text);
}

Result<crypto::SecureBuffer> read_new_passphrase(const std::string& env_var,
                                                 const std::string& prompt) {
  if (!env_var.empty()) {
    auto p = from_env(env_var);
    if (!p) return p;
    if (Status s = check_length(*p); !s) return s;
    return p;
  }
  Tty tty;
  if (!tty.ok()) return no_terminal();
  std::string first;
  std::string second;
  if (!tty.ask(prompt, first)) return no_terminal();
  auto a = crypto::SecureBuffer::take(first);
  if (Status s = check_length(a); !s) return s;
  if (!tty.ask("Repeat it: ", second)) return no_terminal();
  auto b = crypto::SecureBuffer::take(second);
  if (!equal(a, b)) return Status(Code::invalid_argument, "the two passphrases differ");
  return a;
}

Result<crypto::KdfLimits> parse_kdf(const std::string& name) {
  if (name == "interactive") return crypto::KdfLimits::interactive();
  if (name == "minimum") return crypto::KdfLimits::minimum();
  return Status(Code::invalid_argument,
                "unknown --kdf '" + name + "': use interactive (default) or minimum (tests only)");
}

}  // namespace fieldsync::cli
