// Ctrl-C (SIGINT) during `msl run` and in an executable made by `msl build`, as Python
// has it (runtime/AotMain.h, catchSigint): the program stops at its next kernel call or
// loop back-edge with KeyboardInterrupt, its place and traceback on stderr, the output
// printed so far flushed, exit status 130; a second SIGINT before the first was honoured
// ends the process at once (130); a SIGINT ignored at start stays ignored. The msl binary
// (MSL_BINARY) runs as a child with pipes for stdout and stderr; the test sends SIGINT once
// the program said it started. Waits are generous (the machine is slow
// and may run sanitizers); nothing here asserts on timing.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "process_test_util.h"

namespace {

using msl::test::run;
using msl::test::tempDir;
using msl::test::writeFile;

constexpr int kTimeoutSec = 120;

// A child process with its stdout and stderr on pipes.
class Child {
 public:
  // Starts argv; SIGINT is ignored in the child when `ignoreSigint`, else its default.
  Child(const std::vector<std::string>& argv, bool ignoreSigint = false) {
    int o[2], e[2];
    if (pipe(o) != 0 || pipe(e) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(o[1], 1);
      dup2(e[1], 2);
      close(o[0]), close(o[1]), close(e[0]), close(e[1]);
      signal(SIGINT, ignoreSigint ? SIG_IGN : SIG_DFL);  // whatever the test runner left
      sigset_t s;
      sigemptyset(&s);
      sigprocmask(SIG_SETMASK, &s, nullptr);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(o[1]), close(e[1]);
    out_ = o[0], err_ = e[0];
  }
  ~Child() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) close(out_);
    if (err_ >= 0) close(err_);
  }
  bool started() const { return pid_ > 0; }
  void interrupt() { kill(pid_, SIGINT); }

  // Waits until stdout holds `needle` (false on timeout or when the child ended first).
  bool waitForOutput(const std::string& needle) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kTimeoutSec);
    while (out.find(needle) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline || (outEof_ && errEof_)) return false;
      pump(100);
    }
    return true;
  }
  // Waits for the child to end, reading the rest of its output; its exit status, or -1
  // when it was killed by a signal or did not end in time. `every`: called every second
  // while it runs.
  int wait(const std::function<void()>& every = nullptr) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kTimeoutSec);
    auto next = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (std::chrono::steady_clock::now() < deadline) {
      if (outEof_ && errEof_) {
        int status = 0;
        if (waitpid(pid_, &status, 0) != pid_) return -1;
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      pump(100);
      if (every && std::chrono::steady_clock::now() > next) {
        every();
        next = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      }
    }
    return -1;
  }

  std::string out, err;

 private:
  void pump(int ms) {
    pollfd p[2] = {{outEof_ ? -1 : out_, POLLIN, 0}, {errEof_ ? -1 : err_, POLLIN, 0}};
    if (poll(p, 2, ms) <= 0) return;
    char buf[4096];
    for (int k = 0; k < 2; ++k) {
      if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(p[k].fd, buf, sizeof buf);
      if (n <= 0) (k == 0 ? outEof_ : errEof_) = true;
      else (k == 0 ? out : err).append(buf, (size_t)n);
    }
  }
  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
  bool outEof_ = false, errEof_ = false, exited_ = false;
};

// A loop without kernel calls (a `while True: pass` in a function) and a line printed
// before it, still buffered (stdout is a pipe). The file argv[1] tells the test that the
// print is done (a SIGINT sent earlier would stop the program at the print or write_text).
const char* kSpin =
    "def spin():\n"
    "    while True:\n"
    "        pass\n"
    "print('buffered')\n"
    "write_text(argv[1], 'started')\n"
    "spin()\n";

// Waits until `path` exists (false on timeout).
bool waitForFile(const std::string& path) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kTimeoutSec);
  while (access(path.c_str(), F_OK) != 0) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

// Runs `cmd` (a program spinning as kSpin does) with the marker file `dir`/started,
// interrupts it once it started, and checks what it shows: the output printed before the
// interrupt, KeyboardInterrupt at the loop of `file` with the traceback through spin,
// status 130.
void expectInterrupted(std::vector<std::string> cmd, const std::string& dir, const std::string& file) {
  cmd.push_back(dir + "/started");
  Child c(cmd);
  ASSERT_TRUE(c.started());
  ASSERT_TRUE(waitForFile(dir + "/started"));
  c.interrupt();
  EXPECT_EQ(c.wait(), 130) << c.err;
  EXPECT_EQ(c.out, "buffered\n");
  EXPECT_EQ(c.err.rfind(file + ":2:5: error: KeyboardInterrupt\n        while True:\n        ^\n", 0), 0u) << c.err;
  EXPECT_NE(c.err.find("Traceback (most recent call last):\n  " + file + ":6:1 in <module>\n  " + file +
                       ":2:5 in spin\n"),
            std::string::npos)
      << c.err;
}

TEST(RunInterrupt, EagerLoopStopsWithKeyboardInterrupt) {
  std::string dir = tempDir();
  ASSERT_FALSE(dir.empty());
  writeFile(dir + "/spin.msl", kSpin);
  expectInterrupted({MSL_BINARY, "run", dir + "/spin.msl"}, dir, dir + "/spin.msl");
  std::filesystem::remove_all(dir);
}

TEST(RunInterrupt, GraphModeLoopStopsWithKeyboardInterrupt) {
  std::string dir = tempDir();
  ASSERT_FALSE(dir.empty());
  writeFile(dir + "/spin.msl", kSpin);
  expectInterrupted({MSL_BINARY, "run", "--mode=graph", dir + "/spin.msl"}, dir, dir + "/spin.msl");
  std::filesystem::remove_all(dir);
}

// An executable made by `msl build` (graph mode, its code compiled ahead of time).
TEST(RunInterrupt, ExecutableStopsWithKeyboardInterrupt) {
  std::string dir = tempDir();
  ASSERT_FALSE(dir.empty());
  writeFile(dir + "/spin.msl", kSpin);
  int status = 0;
  std::string out = run(std::string(MSL_BINARY) + " build " + dir + "/spin.msl -o " + dir + "/spin 2>&1", &status);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  expectInterrupted({dir + "/spin"}, dir, dir + "/spin.msl");
  std::filesystem::remove_all(dir);
}

// Tensor work at the top level: the kernel calls check for the interrupt.
TEST(RunInterrupt, TensorLoopAtTopLevel) {
  std::string dir = tempDir();
  ASSERT_FALSE(dir.empty());
  std::string file = dir + "/work.msl";
  writeFile(file,
            "x = ones((4, 4))\n"
            "print('started', flush=True)\n"
            "while True:\n"
            "    x = x * 1.0\n");
  Child c({MSL_BINARY, "run", file});
  ASSERT_TRUE(c.started());
  ASSERT_TRUE(c.waitForOutput("started\n")) << c.out << c.err;
  c.interrupt();
  EXPECT_EQ(c.wait(), 130) << c.err;
  EXPECT_EQ(c.err.rfind(file + ":", 0), 0u) << c.err;
  EXPECT_NE(c.err.find(": error: KeyboardInterrupt\n"), std::string::npos) << c.err;
  EXPECT_NE(c.err.find("in <module>\n"), std::string::npos) << c.err;
  std::filesystem::remove_all(dir);
}

// Blocked in a built-in (reading a FIFO that has a writer but no data), the program never
// reaches a check: the next SIGINT ends it at once, with status 130 and no place. The
// test's non-blocking open for writing succeeds once the program opened the FIFO for
// reading (inside read_text, past its check). SIGINT is sent every second until it ends
// (two sent before the first is delivered count as one).
TEST(RunInterrupt, SecondInterruptExitsAtOnce) {
  std::string dir = tempDir();
  ASSERT_FALSE(dir.empty());
  std::string fifo = dir + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  writeFile(dir + "/block.msl", "print(read_text(argv[1]))\n");
  Child c({MSL_BINARY, "run", dir + "/block.msl", fifo});
  ASSERT_TRUE(c.started());
  int w = -1;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kTimeoutSec);
  while ((w = open(fifo.c_str(), O_WRONLY | O_NONBLOCK)) < 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_GE(w, 0) << "the program did not open the FIFO";
  c.interrupt();
  EXPECT_EQ(c.wait([&] { c.interrupt(); }), 130) << c.err;
  EXPECT_EQ(c.err, "\nKeyboardInterrupt\n");
  close(w);
  std::filesystem::remove_all(dir);
}

// SIGINT ignored when msl starts (a background job of a non-interactive shell) stays
// ignored: the program goes on and ends normally (it waits for a file the test makes after
// sending SIGINT).
TEST(RunInterrupt, IgnoredSigintStaysIgnored) {
  std::string dir = tempDir();
  ASSERT_FALSE(dir.empty());
  writeFile(dir + "/wait.msl",
            "print('started', flush=True)\n"
            "while not exists(argv[1]):\n"
            "    pass\n"
            "print('done')\n");
  Child c({MSL_BINARY, "run", dir + "/wait.msl", dir + "/go"}, /*ignoreSigint=*/true);
  ASSERT_TRUE(c.started());
  ASSERT_TRUE(c.waitForOutput("started\n")) << c.out << c.err;
  c.interrupt();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let it arrive first
  writeFile(dir + "/go", "");
  EXPECT_EQ(c.wait(), 0) << c.err;
  EXPECT_EQ(c.out, "started\ndone\n");
  EXPECT_EQ(c.err, "");
  std::filesystem::remove_all(dir);
}

}  // namespace
