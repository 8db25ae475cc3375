// Host built-ins with effects outside the program: time, exit and files.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "runtime/Host.h"
#include "runtime/PrimImpl.h"
#include "runtime/Print.h"
#include "runtime/Utf8.h"

namespace msl {

[[noreturn]] static void ioError(const char* op, const std::string& path, const std::string& why) {
  raise(DiagId::IoError, SourceLoc{}, {op, path, why});
}

Value prim_Time(CallContext& cx, Value* args) {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return Value::real((double)ts.tv_sec + (double)ts.tv_nsec * 1e-9);
}

// exit(code): an int is the status; None is 0; anything else is printed to stderr and the
// status is 1, as in Python.
Value prim_Exit(CallContext& cx, Value* args) {
  const Value& c = args[0];
  int code = 0;
  if (c.is(VKind::Int) || c.is(VKind::Bool)) {
    code = (int)argInt(c, "exit", "code");
  } else if (!c.isNone()) {
    errWrite(strOf(c) + "\n");
    code = 1;
  }
  outFlush();
  exitHook(code);
  return Value::none();
}

Value prim_ReadText(CallContext& cx, Value* args) {
  const std::string& path = argStr(args[0], "read_text", "path");
  checkFileAccess("read_text", path);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) ioError("read_text", path, std::strerror(errno));
  std::string text;
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ioError("read_text", path, std::strerror(err));
    }
    if (n == 0) break;
    text.append(buf, (size_t)n);
  }
  ::close(fd);
  if (!utf8Valid(text)) ioError("read_text", path, "the file is not valid UTF-8");
  return makeStr(std::move(text));
}

Value prim_WriteText(CallContext& cx, Value* args) {
  const std::string& path = argStr(args[0], "write_text", "path");
  const std::string& s = argStr(args[1], "write_text", "s");
  checkFileAccess("write_text", path);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) ioError("write_text", path, std::strerror(errno));
  for (size_t done = 0; done < s.size();) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ioError("write_text", path, std::strerror(err));
    }
    done += (size_t)n;
  }
  if (::close(fd) != 0) ioError("write_text", path, std::strerror(errno));
  return Value::none();
}

Value prim_Exists(CallContext& cx, Value* args) {
  const std::string& path = argStr(args[0], "exists", "path");
  struct stat st;
  return Value::boolean(::stat(path.c_str(), &st) == 0);
}

// isatty(stdout|stderr): whether that stream is a terminal (a progress bar redraws
// itself there and prints one line per epoch otherwise).
Value prim_Isatty(CallContext& cx, Value* args) {
  const std::string& f = argStr(args[0], "isatty", "file");
  if (f != "<stdout>" && f != "<stderr>")
    raise(DiagId::TypeError, SourceLoc{}, {"isatty: file must be stdout or stderr, got '" + f + "'"});
  return Value::boolean(::isatty(f == "<stdout>" ? 1 : 2) == 1);
}

// makedirs(path): creates the directory and its missing parents; an existing directory
// is fine (Python's os.makedirs(path, exist_ok=True)).
Value prim_Makedirs(CallContext& cx, Value* args) {
  const std::string& path = argStr(args[0], "makedirs", "path");
  checkFileAccess("makedirs", path);
  if (path.empty()) ioError("makedirs", path, std::strerror(ENOENT));
  for (size_t end = 1; end <= path.size(); ++end) {
    if (end < path.size() && path[end] != '/') continue;
    std::string prefix = path.substr(0, end);
    if (::mkdir(prefix.c_str(), 0777) == 0) continue;
    int err = errno;
    struct stat st;
    if (::stat(prefix.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) continue;  // already there
      err = end < path.size() ? ENOTDIR : EEXIST;  // a file on the way, or at the end
    }
    ioError("makedirs", path, std::strerror(err));
  }
  return Value::none();
}

}  // namespace msl
