// Source text validation: size, UTF-8, NUL bytes; reading files; registering texts.
#include "frontend/Input.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "frontend/Parser.h"
#include "ir/Diagnostics.h"

namespace msl {

namespace {

// The replacement character U+FFFD, put in place of each invalid byte.
constexpr const char* kReplacement = "\xEF\xBF\xBD";

// Length of the valid UTF-8 sequence starting at s[i], or 0 if the bytes there are not a
// well-formed sequence (overlong forms, surrogates and code points above U+10FFFF are
// rejected, as the Unicode standard requires).
size_t validSequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) -> unsigned { return i + k < s.size() ? (unsigned char)s[i + k] : 0x100; };
  auto cont = [](unsigned b) { return b >= 0x80 && b <= 0xBF; };
  unsigned b0 = byte(0);
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) return cont(byte(1)) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    unsigned b1 = byte(1);
    unsigned lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
    return b1 >= lo && b1 <= hi && cont(byte(2)) ? 3 : 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    unsigned b1 = byte(1);
    unsigned lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
    return b1 >= lo && b1 <= hi && cont(byte(2)) && cont(byte(3)) ? 4 : 0;
  }
  return 0;
}

std::string hexByte(unsigned char b) {
  const char* digits = "0123456789abcdef";
  return {digits[b >> 4], digits[b & 15]};
}

}  // namespace

bool isWellFormedSource(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    if (text[i] == '\0') return false;
    size_t n = validSequenceLength(text, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

size_t countCodePoints(std::string_view utf8) {
  size_t n = 0;
  for (unsigned char c : utf8) n += (c & 0xC0) != 0x80;
  return n;
}

const SourceFile* registerCheckedSource(std::string name, std::string text) {
  if (text.size() > limits::kMaxSourceBytes) {
    // Register an empty stand-in so that the diagnostic names the file.
    size_t size = text.size();
    const SourceFile* stub = SourceManager::get().add(std::move(name), "");
    raise(DiagId::FileTooLarge, SourceLoc{stub, 1, 1},
          {std::to_string(size), std::to_string(limits::kMaxSourceBytes)});
  }
  size_t start = 0;
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) start = 3;  // byte order mark

  // One pass: normalise line ends, check UTF-8 and NUL, remember the first problem.
  std::string clean;
  clean.reserve(text.size());
  DiagId problem = DiagId::InvalidUtf8;
  bool bad = false;
  std::string badByte;
  uint32_t line = 1, col = 1, badLine = 0, badCol = 0;
  auto flag = [&](DiagId id, unsigned char b) {
    if (bad) return;
    bad = true;
    problem = id;
    badByte = hexByte(b);
    badLine = line;
    badCol = col;
  };
  for (size_t i = start; i < text.size();) {
    char c = text[i];
    if (c == '\r') {
      clean += '\n';
      i += (i + 1 < text.size() && text[i + 1] == '\n') ? 2 : 1;
      ++line;
      col = 1;
      continue;
    }
    if (c == '\n') {
      clean += '\n';
      ++i;
      ++line;
      col = 1;
      continue;
    }
    if (c == '\0') {
      flag(DiagId::NulByte, 0);
      clean += kReplacement;
      ++i;
      ++col;
      continue;
    }
    size_t n = validSequenceLength(text, i);
    if (n == 0) {
      flag(DiagId::InvalidUtf8, (unsigned char)c);
      clean += kReplacement;
      ++i;
      ++col;
      continue;
    }
    clean.append(text, i, n);
    i += n;
    ++col;
  }
  const SourceFile* file = SourceManager::get().add(std::move(name), std::move(clean));
  if (bad) {
    SourceLoc loc{file, badLine, badCol};
    if (problem == DiagId::NulByte) raise(DiagId::NulByte, loc);
    raise(DiagId::InvalidUtf8, loc, {badByte});
  }
  return file;
}

std::string readSourceFile(const std::string& path, SourceLoc from) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) raise(DiagId::FileNotFound, from, {path, std::strerror(errno)});
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    raise(DiagId::FileNotFound, from, {path, std::strerror(err)});
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    raise(DiagId::FileNotFound, from, {path, std::strerror(EISDIR)});
  }
  if (S_ISREG(st.st_mode) && size_t(st.st_size) > limits::kMaxSourceBytes) {
    ::close(fd);
    const SourceFile* stub = SourceManager::get().add(path, "");
    raise(DiagId::FileTooLarge, SourceLoc{stub, 1, 1},
          {std::to_string(st.st_size), std::to_string(limits::kMaxSourceBytes)});
  }
  std::string text;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      raise(DiagId::FileNotFound, from, {path, std::strerror(err)});
    }
    if (n == 0) break;
    text.append(buf, size_t(n));
    if (text.size() > limits::kMaxSourceBytes) break;  // a growing pipe or device
  }
  ::close(fd);
  return text;
}

const SourceFile* loadSourceFile(const std::string& path, SourceLoc from) {
  return registerCheckedSource(path, readSourceFile(path, from));
}

const SourceFile* addSourceText(std::string name, std::string text) {
  return registerCheckedSource(std::move(name), std::move(text));
}

}  // namespace msl
