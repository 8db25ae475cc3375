// The msl REPL, driven through a pseudo-terminal as a user would drive it: the real msl
// binary (MSL_BINARY) runs on the slave side of a pty made by forkpty, with HOME pointing
// at a scratch folder (for ~/.msl_history). Reads wait generously (the test machine is
// slow and may run sanitizers); nothing here asserts on timing.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr int kTimeoutSec = 120;  // per expectation

// A fresh folder for HOME (removed with the Repl), or "" when none can be made.
std::string scratchHome() {
  char tmpl[] = "/tmp/msl_repl_test_XXXXXX";
  const char* d = mkdtemp(tmpl);
  return d ? d : "";
}

// An msl process on a pseudo-terminal.
class Repl {
 public:
  explicit Repl(std::vector<std::string> args = {}) : home_(scratchHome()) {
    struct winsize ws {};
    ws.ws_row = 40;
    ws.ws_col = 200;  // wide: libedit does not wrap the lines the tests type
    pid_ = forkpty(&fd_, slaveName_, nullptr, &ws);
    if (pid_ == 0) {
      if (home_.empty()) unsetenv("HOME");
      else setenv("HOME", home_.c_str(), 1);
      setenv("TERM", "dumb", 1);
      unsetenv("MSL_PATH");
      std::vector<char*> argv{const_cast<char*>(MSL_BINARY)};
      for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(MSL_BINARY, argv.data());
      _exit(127);
    }
  }
  ~Repl() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) close(fd_);
    if (!home_.empty()) std::filesystem::remove_all(home_);
  }
  bool started() const { return pid_ > 0; }
  const std::string& home() const { return home_; }

  // Types `s` at the line editor: first waits until it reads the terminal in raw mode.
  // (It prints its prompt before leaving cooked mode; a Ctrl-D typed in cooked mode would
  // reach it as a NUL byte, not as end of input.)
  void type(const std::string& s) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kTimeoutSec);
    while (std::chrono::steady_clock::now() < deadline && cookedMode()) pump(20);
    send(s);
  }
  // Writes `s` at once (a Ctrl-C for a running evaluation).
  void send(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = write(fd_, s.data() + off, s.size() - off);
      if (n <= 0) return;
      off += (size_t)n;
    }
  }

  // Waits until `needle` appears in the output after what earlier expectations consumed;
  // consumes through it. False (with the output so far in the failure message) on timeout
  // or when the process ended first.
  ::testing::AssertionResult expect(const std::string& needle) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kTimeoutSec);
    for (;;) {
      size_t at = out_.find(needle, mark_);
      if (at != std::string::npos) {
        mark_ = at + needle.size();
        return ::testing::AssertionSuccess();
      }
      if (eof_ || std::chrono::steady_clock::now() > deadline)
        return ::testing::AssertionFailure() << "did not see '" << printable(needle) << "' in the output:\n"
                                             << printable(out_.substr(mark_)) << "\n(whole output: "
                                             << printable(out_) << ")";
      pump(100);
    }
  }
  // Consumes everything up to the next prompt ">>> ".
  ::testing::AssertionResult prompt() { return expect(">>> "); }

  // Waits for the process to end (reading its last output); returns its exit status, or
  // -1 when it did not end in time or ended by a signal.
  int wait() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kTimeoutSec);
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      pump(50);
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        while (!eof_ && pump(50)) {}
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
    }
    return -1;
  }
  const std::string& output() const { return out_; }

 private:
  // The slave side's canonical-mode flag (false when it cannot be read: do not wait).
  bool cookedMode() const {
    int fd = open(slaveName_, O_RDWR | O_NOCTTY);
    if (fd < 0) return false;
    termios t{};
    bool cooked = tcgetattr(fd, &t) == 0 && (t.c_lflag & ICANON) != 0;
    close(fd);
    return cooked;
  }
  // Reads what is available within `ms`; false when nothing came.
  bool pump(int ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0) return false;
    char buf[4096];
    ssize_t n = read(fd_, buf, sizeof buf);
    if (n <= 0) {
      eof_ = true;  // EIO: the slave side closed
      return false;
    }
    out_.append(buf, (size_t)n);
    return true;
  }
  static std::string printable(const std::string& s) {
    std::string r;
    for (char c : s) {
      if (c == '\r') r += "\\r";
      else if (c == '\n') r += "\\n\n";
      else if ((unsigned char)c < 0x20) { char b[8]; std::snprintf(b, sizeof b, "\\x%02x", (unsigned char)c); r += b; }
      else r += c;
    }
    return r;
  }

  std::string home_;
  char slaveName_[4096] = {};
  pid_t pid_ = -1;
  int fd_ = -1;
  bool exited_ = false;
  bool eof_ = false;
  std::string out_;
  size_t mark_ = 0;
};

TEST(ReplPty, EchoesExpressionValues) {
  Repl r;
  ASSERT_TRUE(r.started());
  ASSERT_TRUE(r.prompt());
  r.type("6 * 7\n");
  EXPECT_TRUE(r.expect("42\r\n"));
  ASSERT_TRUE(r.prompt());
  r.type("'ab' + 'cd'\n");          // strings echo with their repr
  EXPECT_TRUE(r.expect("'abcd'\r\n"));
  ASSERT_TRUE(r.prompt());
  r.type("x = 5\n");                // a statement echoes nothing
  ASSERT_TRUE(r.prompt());
  r.type("print(x + 100)\n");       // print's None is not echoed
  EXPECT_TRUE(r.expect("105\r\n"));
  ASSERT_TRUE(r.prompt());
  r.type("tensor([1.0, 2.0])\n");
  EXPECT_TRUE(r.expect("tensor([1., 2.])"));
  ASSERT_TRUE(r.prompt());
  r.type("\x04");
  EXPECT_EQ(r.wait(), 0);
  EXPECT_EQ(r.output().find("None"), std::string::npos);
}

TEST(ReplPty, MultiLineDefinition) {
  Repl r;
  ASSERT_TRUE(r.prompt());
  r.type("def twice(v):\n");
  ASSERT_TRUE(r.expect("... "));
  r.type("    w = v * 2\n");
  ASSERT_TRUE(r.expect("... "));
  r.type("    return w\n");
  ASSERT_TRUE(r.expect("... "));
  r.type("\n");                     // the empty line ends the block
  ASSERT_TRUE(r.prompt());
  r.type("twice(21)\n");
  EXPECT_TRUE(r.expect("42\r\n"));
  ASSERT_TRUE(r.prompt());
  r.type("\x04");
  EXPECT_EQ(r.wait(), 0);
}

TEST(ReplPty, RedefinitionIsSeenByCallers) {
  Repl r;
  ASSERT_TRUE(r.prompt());
  r.type("def base():\n    return 1\n\n");
  ASSERT_TRUE(r.prompt());
  r.type("def user():\n    return base() + 10\n\n");
  ASSERT_TRUE(r.prompt());
  r.type("user()\n");
  EXPECT_TRUE(r.expect("11\r\n"));
  ASSERT_TRUE(r.prompt());
  r.type("def base():\n    return 5\n\n");
  ASSERT_TRUE(r.prompt());
  r.type("user()\n");
  EXPECT_TRUE(r.expect("15\r\n"));
  ASSERT_TRUE(r.prompt());
  r.type("def early():\n    return later + 1\n\n");   // `later` is defined afterwards
  ASSERT_TRUE(r.prompt());
  r.type("later = 41\n");
  ASSERT_TRUE(r.prompt());
  r.type("early()\n");
  EXPECT_TRUE(r.expect("42\r\n"));
  ASSERT_TRUE(r.prompt());
  r.type("class P:\n    a: int\n\n");
  ASSERT_TRUE(r.prompt());
  r.type("class P:\n    a: int\n    b: int\n\n");   // a class too may be redefined
  ASSERT_TRUE(r.prompt());
  r.type("P(a=1, b=2).b\n");
  EXPECT_TRUE(r.expect("2\r\n"));
  ASSERT_TRUE(r.prompt());
  r.type("\x04");
  EXPECT_EQ(r.wait(), 0);
}

TEST(ReplPty, ErrorKeepsTheSession) {
  Repl r;
  ASSERT_TRUE(r.prompt());
  r.type("count = 10\n");
  ASSERT_TRUE(r.prompt());
  r.type("count + no_such_name\n");
  EXPECT_TRUE(r.expect("<repl>:1:9: error: name 'no_such_name' is not defined"));
  EXPECT_TRUE(r.expect("^"));         // the caret under the input line
  ASSERT_TRUE(r.prompt());
  // The first statement completes and keeps its effect; the second fails; the third
  // never runs.
  r.type("count = count + 1; boom = 1 // 0; count = 100\n");
  EXPECT_TRUE(r.expect("<repl>:1:"));
  EXPECT_TRUE(r.expect("error"));
  ASSERT_TRUE(r.prompt());
  r.type("count\n");
  EXPECT_TRUE(r.expect("\r\n11\r\n"));
  ASSERT_TRUE(r.prompt());
  r.type("(1 +\n");                   // an open bracket continues the input
  ASSERT_TRUE(r.expect("... "));
  r.type("2) * 3\n");
  EXPECT_TRUE(r.expect("\r\n9\r\n"));
  ASSERT_TRUE(r.prompt());
  r.type("(1 +\n");
  ASSERT_TRUE(r.expect("... "));
  r.type("2) * 3 +\n");               // a syntax error: reported at once, as Python does
  EXPECT_TRUE(r.expect("<repl>:2:"));
  EXPECT_TRUE(r.expect("error: invalid syntax"));
  ASSERT_TRUE(r.prompt());
  r.type("count * 2\n");
  EXPECT_TRUE(r.expect("22\r\n"));
  ASSERT_TRUE(r.prompt());
  r.type("\x04");
  EXPECT_EQ(r.wait(), 0);
}

TEST(ReplPty, TabCompletesGlobalsAndTensorMethods) {
  Repl r;
  ASSERT_TRUE(r.prompt());
  r.type("my_long_variable = 37\n");
  ASSERT_TRUE(r.prompt());
  r.type("my_long_v\t\n");           // completed to my_long_variable
  EXPECT_TRUE(r.expect("37\r\n"));
  ASSERT_TRUE(r.prompt());
  r.type("t = ones((2, 3))\n");
  ASSERT_TRUE(r.prompt());
  r.type("t.resh\t(3, 2)).shape\n");  // completed to t.reshape(
  EXPECT_TRUE(r.expect("(3, 2)\r\n"));
  ASSERT_TRUE(r.prompt());
  r.type("t.nd\t\n");                 // a property: no parenthesis
  EXPECT_TRUE(r.expect("\r\n2\r\n"));
  ASSERT_TRUE(r.prompt());
  r.type("\x04");
  EXPECT_EQ(r.wait(), 0);
}

TEST(ReplPty, Commands) {
  Repl r;
  ASSERT_TRUE(r.prompt());
  r.type(":type ones((2, 3))\n");
  EXPECT_TRUE(r.expect("f32[2,3]"));
  ASSERT_TRUE(r.prompt());
  r.type("def square(v):\n    return v * v\n\n");
  ASSERT_TRUE(r.prompt());
  r.type(":ir square\n");
  EXPECT_TRUE(r.expect("graph @square("));
  EXPECT_TRUE(r.expect("return"));
  ASSERT_TRUE(r.prompt());
  r.type(":grad square\n");  // J of the lowered graph, cleaned
  EXPECT_TRUE(r.expect("graph @square.bprop(%ct)"));
  EXPECT_TRUE(r.expect("return"));
  ASSERT_TRUE(r.prompt());
  r.type(":time square(12)\n");
  EXPECT_TRUE(r.expect("144\r\n"));
  EXPECT_TRUE(r.expect("wall time: "));
  ASSERT_TRUE(r.prompt());
  r.type(":help\n");
  EXPECT_TRUE(r.expect(":type EXPR"));
  EXPECT_TRUE(r.expect(":quit"));
  ASSERT_TRUE(r.prompt());
  r.type(":frobnicate\n");
  EXPECT_TRUE(r.expect("unknown command ':frobnicate'"));
  ASSERT_TRUE(r.prompt());
  ASSERT_FALSE(r.home().empty());
  {
    std::ofstream f(r.home() + "/lib.msl");
    f << "def cube(v):\n    return v * v * v\n";
  }
  r.type(":load " + r.home() + "/lib.msl\n");
  ASSERT_TRUE(r.prompt());
  r.type("cube(3)\n");
  EXPECT_TRUE(r.expect("27\r\n"));
  ASSERT_TRUE(r.prompt());
  r.type(":quit\n");
  EXPECT_EQ(r.wait(), 0);
}

TEST(ReplPty, CtrlCInterruptsAndClears) {
  Repl r;
  ASSERT_TRUE(r.prompt());
  r.type("def spin():\n    print('spin' + 'ning')\n    while True:\n        pass\n\n");
  ASSERT_TRUE(r.prompt());
  r.type("spin()\n");
  ASSERT_TRUE(r.expect("spinning"));  // the loop is running
  r.send("\x03");
  EXPECT_TRUE(r.expect("error: KeyboardInterrupt"));  // with its place and traceback
  EXPECT_TRUE(r.expect("in spin"));
  ASSERT_TRUE(r.prompt());
  r.type("6 * 7\n");                  // the session goes on
  EXPECT_TRUE(r.expect("42\r\n"));
  ASSERT_TRUE(r.prompt());
  r.type("garbage that is never run");
  r.send("\x03");                      // at the prompt: clears the line
  EXPECT_TRUE(r.expect("KeyboardInterrupt"));
  ASSERT_TRUE(r.prompt());
  r.type("5 + 5\n");
  EXPECT_TRUE(r.expect("10\r\n"));
  ASSERT_TRUE(r.prompt());
  r.type("\x04");
  EXPECT_EQ(r.wait(), 0);
}

TEST(ReplPty, CtrlDExitsZeroAndSavesHistory) {
  Repl r;
  ASSERT_TRUE(r.prompt());
  r.type("history_marker = 1\n");
  ASSERT_TRUE(r.prompt());
  r.type("\x04");
  EXPECT_EQ(r.wait(), 0);
  ASSERT_FALSE(r.home().empty());
  std::ifstream f(r.home() + "/.msl_history");
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_NE(ss.str().find("history_marker"), std::string::npos) << ss.str();
}

TEST(ReplPty, ExitStatus) {
  Repl r;
  ASSERT_TRUE(r.prompt());
  r.type("exit(3)\n");
  EXPECT_EQ(r.wait(), 3);
}

TEST(ReplPty, ReplSubcommand) {
  Repl r({"repl"});
  ASSERT_TRUE(r.prompt());
  r.type("1 + 1\n");
  EXPECT_TRUE(r.expect("2\r\n"));
  ASSERT_TRUE(r.prompt());
  r.type("\x04");
  EXPECT_EQ(r.wait(), 0);
}

// --mode=graph: the session's statements and functions run as compiled code, with the
// REPL's behaviour: echo, redefinition seen by callers, errors with their place, Ctrl-C
// stopping a compiled loop at its interrupt check.
TEST(ReplPty, GraphMode) {
  Repl r({"--mode=graph", "repl"});
  ASSERT_TRUE(r.prompt());
  r.type("def base(x):\n    return x * 2\n\n");
  ASSERT_TRUE(r.prompt());
  r.type("def user(n):\n    s = 0\n    for i in range(n):\n        if i % 2 == 0:\n            s += base(i)\n    return s\n\n");
  ASSERT_TRUE(r.prompt());
  r.type("user(5)\n");                // 2 * (0 + 2 + 4)
  EXPECT_TRUE(r.expect("12\r\n"));
  ASSERT_TRUE(r.prompt());
  r.type("def base(x):\n    return x * 10\n\n");
  ASSERT_TRUE(r.prompt());
  r.type("user(5)\n");
  EXPECT_TRUE(r.expect("60\r\n"));
  ASSERT_TRUE(r.prompt());
  r.type("user('a')\n");
  EXPECT_TRUE(r.expect("error"));
  ASSERT_TRUE(r.prompt());
  r.type("def spin():\n    print('spin' + 'ning')\n    while True:\n        pass\n\n");
  ASSERT_TRUE(r.prompt());
  r.type("spin()\n");
  ASSERT_TRUE(r.expect("spinning"));
  r.send("\x03");
  EXPECT_TRUE(r.expect("KeyboardInterrupt"));
  ASSERT_TRUE(r.prompt());
  r.type("tensor([1.0, 2.0]) * 3\n");
  EXPECT_TRUE(r.expect("tensor([3., 6.])"));
  ASSERT_TRUE(r.prompt());
  r.type("\x04");
  EXPECT_EQ(r.wait(), 0);
}

// Without a terminal and without a file, msl runs the program read from stdin.
std::string runShell(const std::string& cmd, int* status) {
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = pclose(p);
  *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

TEST(PipedStdin, RunsTheProgram) {
  int status = -1;
  EXPECT_EQ(runShell("echo 'print(1)' | " MSL_BINARY, &status), "1\n");
  EXPECT_EQ(status, 0);
  EXPECT_EQ(runShell("printf 'x = 6\\nprint(x * 7)\\n' | " MSL_BINARY " -", &status), "42\n");
  EXPECT_EQ(status, 0);
  std::string err = runShell("echo 'print(nope)' | " MSL_BINARY " 2>&1", &status);
  EXPECT_NE(err.find("<stdin>:1:7: error: name 'nope' is not defined"), std::string::npos) << err;
  EXPECT_EQ(status, 1);
}

// `msl repl` without a terminal: no line editing, prompts on stderr, values on stdout; a
// block still open at the end of input runs.
TEST(PipedStdin, ReplWithoutTerminal) {
  int status = -1;
  std::string out = runShell("printf 'x = 2\\nx * 21\\nfor i in range(2):\\n    print(i)\\n' | " MSL_BINARY
                             " repl 2>/dev/null",
                             &status);
  EXPECT_EQ(out, "42\n0\n1\n");
  EXPECT_EQ(status, 0);
}

// :grad NAME prints the cleaned gradient graph of a session function: the closure it
// calls is inlined, so no graph but J(f) and its bprop is printed.
TEST(PipedStdin, GradCommandPrintsTheCleanedGraph) {
  int status = -1;
  std::string out = runShell("printf 'def f(x):\\n    g = lambda y: y * y\\n    return g(x) + x\\n\\n:grad f\\n' | " MSL_BINARY
                             " repl 2>&1",
                             &status);
  EXPECT_EQ(status, 0);
  EXPECT_NE(out.find("# J(f)"), std::string::npos) << out;
  EXPECT_NE(out.find("graph @f.bprop(%ct)"), std::string::npos) << out;
  EXPECT_EQ(out.find("lambda"), std::string::npos) << out;
  EXPECT_EQ(out.find("__jcall"), std::string::npos) << out;
  EXPECT_EQ(out.find("tuple_getitem"), std::string::npos) << out;
}

}  // namespace
